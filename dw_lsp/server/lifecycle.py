"""The LSP lifecycle and the document synchronisation, enforced on pygls's protocol:
:class:`DwProtocol`.

* a request whose params do not fit its method is answered with InvalidParams (pygls
  only logs it, leaving the client waiting);
* before ``initialize``, requests get ServerNotInitialized and notifications are dropped
  (``exit`` excepted); a second ``initialize`` and requests after ``shutdown`` get
  InvalidRequest;
* document synchronisation goes to the server's own store alone: pygls's workspace never
  sees a document (see :mod:`dw_lsp.server.documents` for why);
* ``exit`` ends the session with :attr:`DwProtocol.exit_code` 0 after ``shutdown``, else 1,
  for the transport (:mod:`dw_lsp.server.transport`) to return;
* a handler may answer with :class:`Preserialized` JSON, made once for a large result that
  many requests repeat (the document symbols of a version), instead of pygls converting the
  result objects again for each request.

Imports pygls and lsprotocol; never the worker.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

logger = logging.getLogger(__name__)

_SERVER_NOT_INITIALIZED = int(types.ErrorCodes.ServerNotInitialized)
_INVALID_REQUEST = int(types.ErrorCodes.InvalidRequest)


class _Answered:
    """Stands for a message that was already answered while it was being read."""


class Preserialized:
    """A request's result as JSON text, made once (:func:`preserialize`) and sent as it is."""

    __slots__ = ("json",)

    def __init__(self, text: str) -> None:
        self.json = text


def preserialize(protocol: LanguageServerProtocol, result: Any) -> Preserialized:
    """``result`` (lsprotocol objects) in the JSON pygls would send for it."""
    # ASCII, as pygls writes: its Content-Length counts characters
    return Preserialized(json.dumps(protocol._converter.unstructure(result), ensure_ascii=True))


class DwProtocol(LanguageServerProtocol):
    """pygls's protocol, with the LSP lifecycle enforced and bad params answered:

    * a request whose params do not fit its method is answered with InvalidParams (pygls
      only logs it, leaving the client waiting);
    * before ``initialize``, requests get ServerNotInitialized and notifications are dropped
      (``exit`` excepted); a second ``initialize`` and requests after ``shutdown`` get
      InvalidRequest;
    * document synchronisation goes to the server's own store alone: pygls's workspace never
      sees a document (see :mod:`dw_lsp.server.documents` for why);
    * ``exit`` ends the session with :attr:`exit_code` 0 after ``shutdown``, else 1, for the
      transport to return (pygls raises SystemExit, which its stdio loop turned into 0);
    * a change to a document that is not open is dropped instead of failing.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initialized = False
        self.exit_code: int | None = None

    def _send_response(
        self, msg_id: Any, result: Any | None = None, error: types.ResponseError | None = None
    ) -> None:
        if error is not None or not isinstance(result, Preserialized):
            super()._send_response(msg_id, result, error)
            return
        self._result_types.pop(msg_id, None)
        body = f'{{"id": {json.dumps(msg_id)}, "result": {result.json}, "jsonrpc": "2.0"}}'
        header = f"Content-Length: {len(body)}\r\n"
        header += f"Content-Type: {self.CONTENT_TYPE}; charset={self.CHARSET}\r\n\r\n"
        if self.writer is None:
            logger.error("No transport to answer request %s", msg_id)
            return
        self.writer.write((header + body).encode(self.CHARSET))

    @property
    def shutdown_received(self) -> bool:
        return bool(self._shutdown)

    def _refuse(self, data: dict[str, Any], code: int, message: str) -> _Answered:
        if "id" in data:
            error = types.ResponseError(code=code, message=message)
            self._send_response(data["id"], error=error)
        else:
            logger.warning("Dropped %s: %s", data.get("method"), message)
        return _Answered()

    def structure_message(self, data: dict[str, Any]) -> Any:
        method = data.get("method") if isinstance(data, dict) else None
        if method is not None and method != types.EXIT:
            if not self.initialized and method != types.INITIALIZE:
                return self._refuse(
                    data, _SERVER_NOT_INITIALIZED, f"{method}: the server is not initialized"
                )
            if self.initialized and method == types.INITIALIZE:
                return self._refuse(data, _INVALID_REQUEST, "the server is already initialized")
            if self._shutdown:
                return self._refuse(data, _INVALID_REQUEST, f"{method}: the server is shut down")
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "method" not in data:
                raise
            cause = exc.__cause__ or exc
            if "id" in data:
                error = JsonRpcInvalidParams(f"Invalid params for {data['method']}: {cause}")
                self._send_response(data["id"], error=error.to_response_error())
            else:
                logger.warning("Ignoring %s with invalid params: %s", data["method"], cause)
            return _Answered()

    def handle_message(self, message: Any) -> None:
        if isinstance(message, _Answered):
            return
        if getattr(message, "method", None) == types.INITIALIZE:
            self.initialized = True
        super().handle_message(message)

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        """End the session: the transport stops reading and exits with :attr:`exit_code`."""
        self.exit_code = 0 if self._shutdown else 1
        logger.info("exit%s", "" if self._shutdown else " without shutdown: exit code 1")
        yield from ()

    def _handlers_of(self, method: str, params: Any) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(
        self, params: types.DidOpenTextDocumentParams
    ) -> Generator[Any, Any, None]:
        """Straight to the handler (and the server's store), not to pygls's workspace."""
        yield from self._handlers_of(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        """Straight to the handler: pygls's workspace would clamp the ranges in place."""
        yield from self._handlers_of(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(
        self, params: types.DidCloseTextDocumentParams
    ) -> Generator[Any, Any, None]:
        yield from self._handlers_of(types.TEXT_DOCUMENT_DID_CLOSE, params)
