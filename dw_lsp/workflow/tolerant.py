"""A forgiving JSON parser that builds a tree of nodes with source offsets.

It accepts the broken JSON a user has mid-keystroke (an unclosed string or bracket, a
missing or trailing comma, a missing colon or value, comments, single quotes, bare words)
and records each defect as a syntax problem with a short range, never an exception. The
parts that parse are kept, so the rest of the document can still be checked. Pure Python:
the language server uses its tree for editor features; diagnostics of strictly valid
documents take the faster path in :mod:`dw_lsp.workflow.document`. Pure.
"""

from __future__ import annotations

import json
import re
from typing import Any

from dw_lsp.workflow.files import MAX_JSON_DEPTH
from dw_lsp.workflow.nodes import Member, Node
from dw_lsp.workflow.positions import LineIndex
from dw_lsp.workflow.problem import MAX_PROBLEMS, Problem, Severity, too_many

_WS = re.compile(r"[ \t\n\r\ufeff]*")
_STRING = re.compile(r'"(?:[^"\\\n\r]|\\.)*"')
_SQ_STRING = re.compile(r"'(?:[^'\\\n\r]|\\.)*'")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_LOOSE_NUMBER = re.compile(r"[-+]?[0-9.]+(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
#: A run of characters that can start nothing in JSON (not white space, punctuation, a
#: quote, a word, a number or a comment), spaces and tabs between them included: reported
#: as one problem, however long.
_STRAY_CHAR = r"[^ \t\n\r\ufeff{}\[\]\",:'/A-Za-z0-9_$+\-.]"
_STRAY = re.compile(f"{_STRAY_CHAR}+(?:[ \t]+{_STRAY_CHAR}+)*")
_LINE_BREAK = re.compile(r"[\n\r]")
#: Half of a UTF-16 surrogate pair on its own: not a character (no UTF-8 file holds it).
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: Raw control characters, which a JSON string may hold only escaped (RFC 8259 section 7).
_CONTROL = re.compile("[\x00-\x1f]")
_CONTROL_NAMES = {"\t": "\\t", "\b": "\\b", "\f": "\\f"}
#: Words Python's json module reads as numbers, which JSON does not have.
_NOT_NUMBERS = ("NaN", "Infinity", "-Infinity")
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}
_FIXES = {"True": "true", "False": "false", "None": "null", "undefined": "null"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.problems: list[Problem] = []
        self.unclosed_reported = False
        self._lines: LineIndex | None = None
        self.dropped = 0  # problems past MAX_PROBLEMS: counted, not kept
        self.first_dropped = (0, 0)

    # -- helpers -----------------------------------------------------------------------
    def add(self, problem: Problem) -> None:
        """Keep ``problem``, or past :data:`MAX_PROBLEMS` only count it (a pathological
        text must not cost a Problem, a sort and a conversion per character)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
            return
        if not self.dropped:
            self.first_dropped = (problem.start, problem.end)
        self.dropped += 1

    def report(self, code: str, message: str, start: int, end: int) -> None:
        end = max(end, start + 1) if start < self.n else start
        self.add(Problem(code, Severity.ERROR, message, start, min(end, self.n)))

    def unclosed(self, start: int, message: str) -> None:
        """Report the innermost container left open at the end of the text, once."""
        if not self.unclosed_reported:
            self.unclosed_reported = True
            self.report("DW007", message, start, start + 1)

    def duplicate(self, earlier: Member, later: Member) -> None:
        if self._lines is None:
            self._lines = LineIndex(self.text)
        line = self._lines.line_of(earlier.key_start) + 1
        message = (
            f"Duplicate key {later.key!r}: JSON keeps only this last value, and the one on "
            f"line {line} is ignored. Remove one of them."
        )
        self.add(Problem("DW011", Severity.WARNING, message, later.key_start, later.key_end))

    def ws(self, i: int) -> int:
        text = self.text
        while True:
            m = _WS.match(text, i)
            i = m.end() if m else i
            if text.startswith("//", i):
                eol = _eol(text, i)
                self.report("DW004", "Comments are not allowed in JSON; remove it.", i, eol)
                i = eol
            elif text.startswith("/*", i):
                close = text.find("*/", i + 2)
                end = self.n if close < 0 else close + 2
                self.report("DW004", "Comments are not allowed in JSON; remove it.", i, end)
                i = end
            else:
                return i

    # -- values ------------------------------------------------------------------------
    def value(self, i: int, depth: int) -> tuple[Node | None, int]:
        """Parse a value at ``i`` (after white space); return it (None if absent)."""
        text = self.text
        if i >= self.n:
            return None, i
        c = text[i]
        if c in "{[":
            if depth >= MAX_JSON_DEPTH:
                end = _skip_nested(text, i)
                self.report(
                    "DW009",
                    f"The document is nested more than {MAX_JSON_DEPTH} levels deep; "
                    "flatten it (this part is not checked).",
                    i,
                    i + 1,
                )
                return None, end
            return self.obj(i, depth + 1) if c == "{" else self.array(i, depth + 1)
        if c == '"':
            return self.string(i)
        if c == "'":
            m = _SQ_STRING.match(text, i)
            end = m.end() if m else _eol(text, i)
            self.report("DW001", "Strings must use double quotes.", i, end)
            value = self.sanitized(text[i + 1 : end - 1 if m else end], i, end)
            return Node("string", i, end, value), end
        not_number = next((w for w in _NOT_NUMBERS if text.startswith(w, i)), None)
        if not_number is not None:
            end = i + len(not_number)
            msg = f"{not_number} is not a JSON value (it has no NaN or infinities); use null."
            self.report("DW001", msg, i, end)
            return None, end
        if c == "-" or c.isdigit() or c in "+.":
            m = _NUMBER.match(text, i)
            loose = _LOOSE_NUMBER.match(text, i)
            if m and (loose is None or loose.end() <= m.end()):
                raw = m.group()
                number: Any = float(raw) if any(ch in raw for ch in ".eE") else int(raw)
                return Node("number", i, m.end(), number), m.end()
            end = loose.end() if loose else i + 1
            self.report("DW001", f"Invalid number {text[i:end]!r}.", i, end)
            return None, end
        m = _WORD.match(text, i)
        if m:
            word = m.group()
            if word in _LITERALS:
                kind = "null" if word == "null" else "boolean"
                return Node(kind, i, m.end(), _LITERALS[word]), m.end()
            hint = f"; use {_FIXES[word]}" if word in _FIXES else "; strings need double quotes"
            self.report("DW001", f"Invalid value {word!r}{hint}.", i, m.end())
            return None, m.end()
        return None, i

    def string(self, i: int) -> tuple[Node, int]:
        text = self.text
        m = _STRING.match(text, i)
        if m is None:
            end = _eol(text, i)
            self.report("DW002", 'Unterminated string: close it with ".', i, end)
            return Node("string", i, end, self.sanitized(_unescape(text[i + 1 : end]), i, end)), end
        raw = m.group()
        try:
            value = json.loads(raw, strict=False) if "\\" in raw else raw[1:-1]
        except ValueError:
            self.report("DW001", "Invalid escape sequence in string.", i, m.end())
            value = raw[1:-1]
        control = _CONTROL.search(raw)
        if control is not None:  # RFC 8259: U+0000-U+001F only escaped, a tab too
            at = control.start() + i
            name = _CONTROL_NAMES.get(control.group(), f"\\u{ord(control.group()):04x}")
            msg = f"A control character must be escaped in a JSON string; write {name}."
            self.report("DW001", msg, at, at + 1)
        return Node("string", i, m.end(), self.sanitized(value, i, m.end())), m.end()

    def sanitized(self, value: str, start: int, end: int) -> str:
        """``value`` with any lone surrogate replaced by U+FFFD, reported (DW014) once for
        the string at ``[start, end)``: the checks after the parser see only characters."""
        problem = lone_surrogate(value, start, end)
        if problem is None:
            return value
        self.add(problem)
        return LONE_SURROGATE.sub("\ufffd", value)

    def key(self, i: int) -> tuple[str, int, int] | None:
        text = self.text
        c = text[i]
        if c == '"':
            node, end = self.string(i)
            return str(node.value), i, end
        if c == "'":
            quoted, end = self.value(i, 0)
            return (str(quoted.value) if quoted else ""), i, end
        m = _WORD.match(text, i)
        if m:
            self.report("DW001", "Property names must be double-quoted strings.", i, m.end())
            return m.group(), i, m.end()
        return None

    def obj(self, start: int, depth: int) -> tuple[Node, int]:
        text, n = self.text, self.n
        node = Node("object", start, start + 1)
        seen: dict[str, Member] = {}  # the last member of each name (the one JSON keeps)
        i = start + 1
        while True:
            i = self.ws(i)
            if i >= n:
                self.unclosed(start, "This object is not closed: add '}'.")
                node.closed = False
                break
            c = text[i]
            if c == "}":
                i += 1
                break
            if c == ",":
                self.report("DW001", "Unexpected comma.", i, i + 1)
                i += 1
                continue
            if c == "]":
                self.report("DW007", "This object is not closed: add '}'.", start, start + 1)
                node.closed = False
                break
            key = self.key(i)
            if key is None:
                end = _stray_end(text, i)
                self.report("DW001", _unexpected(text[i:end], "a property name"), i, end)
                i = end
                continue
            name, kstart, kend = key
            member = Member(name, kstart, kend, None)
            earlier = seen.get(name)
            if earlier is not None:
                self.duplicate(earlier, member)
            seen[name] = member
            node.members.append(member)
            i = self.ws(kend)
            if i < n and text[i] == ":":
                member.colon = i
                i = self.ws(i + 1)
                if self._key_on_next_line(member.colon, i):  # "seed": <nothing yet>
                    self.report("DW006", f"Value expected for {name!r}.", kstart, kend)
                    continue
            else:
                self.report("DW012", "Colon expected after the property name.", kstart, kend)
                if i >= n or text[i] in ",}]" or "\n" in text[kend:i] or "\r" in text[kend:i]:
                    continue
            value, after = self.value(i, depth)
            if value is None and after == i:
                if i < n and text[i] not in ",}]\n\r":
                    self.report("DW006", "Value expected.", i, i + 1)
                else:
                    self.report("DW006", f"Value expected for {name!r}.", kstart, kend)
            member.value = value
            i = self.ws(after)
            if i < n and text[i] == ",":
                comma = i
                i = self.ws(i + 1)
                if i < n and text[i] == "}":
                    self.report("DW003", "Trailing comma: remove it.", comma, comma + 1)
                continue
            if (i < n and text[i] in "\"'") or (i < n and _WORD.match(text, i) is not None):
                self.report("DW005", "Missing comma between properties.", i, i + 1)
        node.end = i
        return node, i

    def _key_on_next_line(self, colon: int, i: int) -> bool:
        """Whether what follows the colon at ``colon`` is, on a later line, a string and
        a colon: the next member's key, so this member's value is still to be typed."""
        text = self.text
        if i >= self.n or text[i] != '"' or not _LINE_BREAK.search(text, colon, i):
            return False
        m = _STRING.match(text, i)
        if m is None:
            return False
        after = _WS.match(text, m.end())
        return after is not None and text.startswith(":", after.end())

    def array(self, start: int, depth: int) -> tuple[Node, int]:
        text, n = self.text, self.n
        node = Node("array", start, start + 1)
        i = start + 1
        expect_value = True
        while True:
            i = self.ws(i)
            if i >= n:
                self.unclosed(start, "This array is not closed: add ']'.")
                node.closed = False
                break
            c = text[i]
            if c == "]":
                i += 1
                break
            if c == "}":
                self.report("DW007", "This array is not closed: add ']'.", start, start + 1)
                node.closed = False
                break
            if c == ",":
                if expect_value:
                    self.report("DW006", "Value expected.", i, i + 1)
                i += 1
                j = self.ws(i)
                if j < n and text[j] == "]":
                    self.report("DW003", "Trailing comma: remove it.", i - 1, i)
                expect_value = True
                continue
            if not expect_value:
                self.report("DW005", "Missing comma between array items.", i, i + 1)
            value, after = self.value(i, depth)
            if value is None and after == i:
                end = _stray_end(text, i)
                self.report("DW001", _unexpected(text[i:end], "a value"), i, end)
                i = end
                expect_value = False  # the run stands for the item: no second problem
                continue
            if value is not None:
                node.items.append(value)
            i = after
            expect_value = False
        node.end = i
        return node, i


def parse_tree(text: str) -> tuple[Node | None, list[Problem]]:
    """Parse ``text`` forgivingly; return the root node (None if there is no value) and
    the syntax problems found."""
    p = _Parser(text)
    i = p.ws(0)
    if i >= p.n:
        msg = "The document is empty: a workflow is a JSON object."
        p.problems.append(Problem("DW010", Severity.ERROR, msg, 0, 0))
        return None, p.problems
    root, end = p.value(i, 0)
    if root is None and end == i:
        p.report("DW001", "A JSON value is expected here.", i, i + 1)
    rest = p.ws(end)
    if rest < p.n:
        p.report(
            "DW013", "Unexpected content after the end of the document.", rest, _eol(text, rest)
        )
    if p.dropped:
        p.problems.append(too_many(p.dropped, *p.first_dropped))
    return root, p.problems


def lone_surrogate(value: str, start: int, end: int) -> Problem | None:
    """DW014 for the string at ``[start, end)`` if its ``value`` holds a lone surrogate."""
    found = LONE_SURROGATE.search(value)
    if found is None:
        return None
    message = (
        f"Lone surrogate \\u{ord(found.group()):04x} in this string: half of a UTF-16 pair "
        "is not a character and cannot be saved as UTF-8. Remove it or complete the pair."
    )
    return Problem("DW014", Severity.ERROR, message, start, end)


def _stray_end(text: str, i: int) -> int:
    """The end of the run of stray characters at ``i`` (at least one character)."""
    m = _STRAY.match(text, i)
    return m.end() if m is not None else i + 1


def _unexpected(run: str, expected: str) -> str:
    if len(run) == 1:
        return f"Unexpected character {run!r}; {expected} is expected."
    shown = repr(run[:10]) + ("…" if len(run) > 10 else "")
    return f"{len(run)} unexpected characters {shown}; {expected} is expected."


def _eol(text: str, i: int) -> int:
    m = _LINE_BREAK.search(text, i)
    return m.start() if m is not None else len(text)


def _unescape(raw: str) -> str:
    try:
        return str(json.loads('"' + raw.rstrip("\\") + '"'))
    except ValueError:
        return raw


def _skip_nested(text: str, i: int) -> int:
    """End of the bracketed value starting at ``i`` (strings respected), or the text end."""
    depth = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif c == '"':
            m = _STRING.match(text, i)
            i = m.end() - 1 if m else _eol(text, i) - 1
        i += 1
    return n
