"""The Neovim snippet (editor/neovim/dw-lsp.lua) against a real headless Neovim.

One ``nvim --headless --clean`` session sources the snippet with ``vim.g.dw_lsp_cmd`` set to
this interpreter's ``-m dw_lsp``, then a Lua driver opens three files and records what it
sees as JSON:

- a workflow with an unknown task command (detected by its ``"steps"``): the client
  attaches; the diagnostics (pushed to 0.7, pulled by 0.11) contain DW218 on the command's
  value; the Run/Memory/Clear code lenses appear; ``workspace/executeCommand dw.status``
  answers with the ``outputDir`` of ``vim.g.dw_lsp_settings`` (the init options got
  through); ``:DwClear``, ``:DwRun`` and the Clear lens (``vim.lsp.codelens.run()``) report
  their results through ``vim.notify`` (the run is refused: the workflow has an error, and
  the worker command is a stub that exits anyway); the README's raw ``execute_command`` /
  ``exec_cmd`` form reaches the server;
- a package.json-like JSON file: no client attaches;
- a JSON file under ``workflows/`` without ``"steps"``: attaches to the same client.

Every wait is bounded: inside Neovim each ``vim.wait`` takes at most 30 s and all of them
end within 60 s, and outside a 90 s subprocess timeout kills nvim's whole process group,
server included. Skipped only when ``nvim`` is not on PATH (Debian: ``apt-get install -y
neovim``, which is 0.7.2; also passes with Neovim 0.11).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SNIPPET = REPO / "editor" / "neovim" / "dw-lsp.lua"
NVIM = shutil.which("nvim")

pytestmark = pytest.mark.skipif(
    NVIM is None, reason="nvim is not on PATH (Debian/Ubuntu: apt-get install -y neovim)"
)

WORKFLOW = """{
  "id": "x",
  "steps": [
    {
      "name": "a",
      "task": {
        "command": "face_detectr",
        "arguments": {}
      }
    }
  ]
}
"""

PLAIN = """{
  "name": "some-package",
  "version": "1.0.0",
  "scripts": {"test": "jest"},
  "dependencies": {"left-pad": "^1.3.0"}
}
"""

# Runs inside Neovim after startup. Reads its inputs from $DW_NVIM_CONFIG, writes its
# findings to the config's "out" path, and always quits.
DRIVER = r"""
local cfg = vim.fn.json_decode(table.concat(vim.fn.readfile(vim.env.DW_NVIM_CONFIG), "\n"))
local result = { nvim = vim.version() }

local function clients_of(buf)
  local list = {}
  if vim.lsp.get_clients then -- 0.10+
    list = vim.lsp.get_clients({ bufnr = buf })
  else
    for _, client in pairs(vim.lsp.buf_get_clients(buf)) do
      table.insert(list, client)
    end
  end
  local out = {}
  for _, client in ipairs(list) do
    table.insert(out, { id = client.id, name = client.name, root_dir = client.config.root_dir })
  end
  return out
end

-- Every wait takes at most cfg.wait_ms and ends by the shared deadline, so the driver always
-- finishes (and writes what it saw) well before the subprocess timeout.
local function now()
  return vim.loop.hrtime() / 1e6
end
local deadline = now() + cfg.deadline_ms
local function wait_for(condition, ms)
  local left = math.max(0, math.min(ms or cfg.wait_ms, deadline - now()))
  return vim.wait(left, condition, 50)
end

local function open(path)
  vim.cmd("edit " .. vim.fn.fnameescape(path))
  return vim.api.nvim_get_current_buf()
end

local ok, err = pcall(function()
  vim.o.hidden = true
  vim.g.dw_lsp_cmd = cfg.cmd
  vim.g.dw_lsp_settings = cfg.settings
  vim.cmd("luafile " .. vim.fn.fnameescape(cfg.snippet))

  -- 1. A workflow with an error: attach, pushed diagnostics, code lenses, a command.
  local buf = open(cfg.workflow)
  result.workflow_filetype = vim.bo[buf].filetype
  result.got_diagnostics = wait_for(function()
    return #vim.diagnostic.get(buf) > 0
  end)
  result.workflow_clients = clients_of(buf)
  result.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(result.diagnostics, {
      code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code),
      message = d.message,
      lnum = d.lnum,
      col = d.col,
      end_lnum = d.end_lnum,
      end_col = d.end_col,
      severity = d.severity,
    })
  end

  wait_for(function()
    return #vim.lsp.codelens.get(buf) > 0
  end)
  result.lenses = {}
  for _, lens in ipairs(vim.lsp.codelens.get(buf)) do
    table.insert(result.lenses, {
      title = lens.command and lens.command.title,
      command = lens.command and lens.command.command,
      arguments = lens.command and lens.command.arguments,
      lnum = lens.range.start.line,
    })
  end

  local responses = vim.lsp.buf_request_sync(buf, "workspace/executeCommand", {
    command = "dw.status",
    arguments = { { uri = vim.uri_from_bufnr(buf) } },
  }, math.max(1, math.min(cfg.wait_ms, deadline - now())))
  result.status = {}
  for _, response in pairs(responses or {}) do
    table.insert(result.status, response.result or { error = response.err })
  end

  -- The README's raw form (its result goes to the workspace/executeCommand handler).
  local raw = nil
  vim.lsp.handlers["workspace/executeCommand"] = function(err, res)
    raw = res or { error = err }
  end
  local command = {
    title = "Status",
    command = "dw.status",
    arguments = { { uri = vim.uri_from_bufnr(0) } },
  }
  if vim.fn.has("nvim-0.11") == 1 then
    vim.lsp.get_clients({ bufnr = 0, name = "dw-lsp" })[1]:exec_cmd(command, { bufnr = 0 })
  else
    vim.lsp.buf.execute_command({ command = command.command, arguments = command.arguments })
  end
  wait_for(function()
    return raw ~= nil
  end)
  result.raw_status = raw

  -- The snippet's user commands report through vim.notify.
  local notes = {}
  vim.notify = function(msg, level)
    table.insert(notes, { msg = msg, level = level })
  end
  for _, name in ipairs({ "DwClear", "DwRun" }) do
    local before = #notes
    vim.cmd(name)
    wait_for(function()
      return #notes > before
    end)
  end

  -- The code lens "Clear", as vim.lsp.codelens.run() on the first line picks it.
  vim.ui.select = function(items, opts, on_choice)
    for _, item in ipairs(items) do
      if opts.format_item(item) == "Clear" then
        return on_choice(item)
      end
    end
    on_choice(nil)
  end
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  local before = #notes
  vim.lsp.codelens.run()
  wait_for(function()
    return #notes > before
  end)
  result.notes = notes

  -- 2. A plain JSON file: no client.
  local plain = open(cfg.plain)
  result.plain_filetype = vim.bo[plain].filetype
  wait_for(function()
    return false
  end, 500) -- give a wrong attach the time to happen
  result.plain_clients = clients_of(plain)

  -- 3. Under workflows/ without "steps": the same client.
  local in_dir = open(cfg.in_workflows)
  result.in_workflows_filetype = vim.bo[in_dir].filetype
  wait_for(function()
    return #clients_of(in_dir) > 0
  end)
  result.in_workflows_clients = clients_of(in_dir)
end)

result.ok = ok
if not ok then
  result.error = tostring(err)
end
vim.fn.writefile({ vim.fn.json_encode(result) }, cfg.out)
vim.cmd("qa!")
"""


def run_nvim(tmp_path: Path, config: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Run the driver in a headless Neovim; return its findings. Never hangs."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    driver = tmp_path / "driver.lua"
    driver.write_text(DRIVER, encoding="utf-8")
    env = {
        **os.environ,
        "DW_NVIM_CONFIG": str(config_path),
        "HF_HUB_OFFLINE": "1",
        # Keep the user's Neovim state and logs out of the test.
        "XDG_CONFIG_HOME": str(tmp_path / "xdg" / "config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg" / "data"),
        "XDG_STATE_HOME": str(tmp_path / "xdg" / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "xdg" / "cache"),
    }
    assert NVIM is not None
    proc = subprocess.Popen(
        [NVIM, "--headless", "--clean", "-c", f"luafile {driver}"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: nvim and the server die together
    )
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(
            f"nvim did not finish within {timeout_s} s; output:\n"
            + output.decode(errors="replace")[-4000:]
        )
    finally:
        # The server normally exits with nvim; make sure nothing of the group survives.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    text = output.decode(errors="replace")
    out = Path(config["out"])
    assert out.exists(), f"the driver wrote no result (exit {proc.returncode}); output:\n{text}"
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert result.get("ok"), f"the driver failed: {result.get('error')}\noutput:\n{text}"
    return result


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp_path = tmp_path_factory.mktemp("nvim")
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "workflows").mkdir()
    workflow = project / "broken.json"
    workflow.write_text(WORKFLOW, encoding="utf-8")
    plain = project / "package.json"
    plain.write_text(PLAIN, encoding="utf-8")
    in_workflows = project / "workflows" / "empty.json"
    in_workflows.write_text("{}\n", encoding="utf-8")
    output_dir = tmp_path / "dw-outputs"
    config = {
        "snippet": str(SNIPPET),
        "cmd": [sys.executable, "-m", "dw_lsp"],
        "settings": {
            "outputDir": str(output_dir),
            # Never a real worker (torch): if a run got that far it would fail at once.
            "worker": {"prewarm": False, "command": [sys.executable, "-c", "raise SystemExit(3)"]},
        },
        "workflow": str(workflow),
        "plain": str(plain),
        "in_workflows": str(in_workflows),
        "out": str(tmp_path / "result.json"),
        "wait_ms": 30_000,  # any one wait
        "deadline_ms": 60_000,  # all of them
    }
    result = run_nvim(tmp_path, config, timeout_s=90)
    result["_paths"] = {"workflow": workflow, "output_dir": output_dir, "project": project}
    return result


def test_attaches_to_a_workflow(session: dict[str, Any]) -> None:
    assert session["workflow_filetype"] == "json"
    [client] = session["workflow_clients"]
    assert client["name"] == "dw-lsp"
    # root_dir: the nearest folder with .git, not nvim's cwd (the folder above it).
    assert Path(client["root_dir"]) == session["_paths"]["project"]


def test_pushed_diagnostics_reach_neovim(session: dict[str, Any]) -> None:
    assert session["got_diagnostics"], "no diagnostics within 30 s"
    dw218 = [d for d in session["diagnostics"] if d["code"] == "DW218"]
    assert dw218, session["diagnostics"]
    lines = WORKFLOW.splitlines()
    lnum = next(i for i, line in enumerate(lines) if "face_detectr" in line)
    col = lines[lnum].index('"face_detectr"')
    assert (dw218[0]["lnum"], dw218[0]["col"]) == (lnum, col), dw218
    assert dw218[0]["end_col"] == col + len('"face_detectr"'), dw218
    assert "face_detectr" in dw218[0]["message"]
    assert dw218[0]["severity"] == 1  # vim.diagnostic.severity.ERROR


def test_code_lenses(session: dict[str, Any]) -> None:
    uri = session["_paths"]["workflow"].as_uri()
    commands = [lens["command"] for lens in session["lenses"]]
    assert commands == ["dw.run", "dw.run", "dw.memory", "dw.clear"], session["lenses"]
    arguments = [lens["arguments"] for lens in session["lenses"]]
    smoke = {"uri": uri, "standIn": True}
    assert arguments == [[{"uri": uri}], [smoke], [{"uri": uri}], [{"uri": uri}]], arguments
    assert all(lens["lnum"] == 0 for lens in session["lenses"])


def test_execute_command_sees_the_settings(session: dict[str, Any]) -> None:
    [status] = session["status"]
    assert status["status"] == "ok", status
    assert Path(status["outputDir"]) == session["_paths"]["output_dir"].resolve()
    # worker.prewarm = false got through: opening a workflow started no worker.
    assert status["worker"]["state"] == "stopped", status
    assert status["worker"].get("pid") is None, status
    # The server runs in root_dir (cmd_cwd), so relative paths resolve in the project.
    assert Path(status["workflowDir"]) == session["_paths"]["project"].resolve()


def test_no_attach_to_plain_json(session: dict[str, Any]) -> None:
    assert session["plain_filetype"] == "json"
    assert session["plain_clients"] == []


def test_attaches_under_workflows_folder_to_the_same_client(session: dict[str, Any]) -> None:
    assert session["in_workflows_filetype"] == "json"
    assert session["in_workflows_clients"] == session["workflow_clients"]


def test_readme_execute_command_form(session: dict[str, Any]) -> None:
    """vim.lsp.buf.execute_command (< 0.11) or client:exec_cmd (0.11+), as the README says."""
    status = session["raw_status"]
    assert status["status"] == "ok", status
    assert Path(status["outputDir"]) == session["_paths"]["output_dir"].resolve()


def test_user_commands_and_lenses_report_results(session: dict[str, Any]) -> None:
    clear, run, lens = session["notes"]
    assert clear["msg"].startswith("dw.clear:") and "nothing to clear" in clear["msg"], clear
    # The workflow has an error: the run is refused before any worker starts.
    assert run["msg"].startswith("dw.run: error"), run
    assert "DW218" in run["msg"], run
    assert run["level"] == 4  # vim.log.levels.ERROR
    # vim.lsp.codelens.run() -> the snippet's client-side command -> the server -> notify.
    assert lens["msg"].startswith("dw.clear:") and "nothing to clear" in lens["msg"], lens
