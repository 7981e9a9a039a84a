"""D-Bus adapter of the auth service: `org.evcharge.Auth1` (+ `.Sim` with a simulated reader)."""

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property, method, signal

from evcharge.common import names
from evcharge.common.errors import InvalidArgument, require_range
from evcharge.common.persist import read_json, write_json_atomic
from evcharge.common.service import ServiceContext

from .allowlist import AllowList
from .config import AuthConfig, ReaderKind
from .locallist import LocalList
from .rfid import Pn532Reader
from .tokens import AuthStatus, TokenType, check_token, check_uid

log = logging.getLogger(__name__)

SOURCE_REMOTE = "remote"
MAX_CONNECTOR_ID = 255


def masked(token: str) -> str:
    """Tokens identify people: the journal gets only enough to tell cards apart."""
    return "*" * max(0, len(token) - 4) + token[-4:]


class AuthInterface(ServiceInterface):
    def __init__(self, allow_list: AllowList, free_vend: bool, reader_names: list[str],
                 local_list_file: Path | None = None) -> None:
        super().__init__(names.AUTH)
        self._list = allow_list
        # The CSMS's list (OCPP SendLocalList, via the ocpp service): decides the tokens it names.
        self._csms = LocalList()
        self._csms_file = local_list_file
        if local_list_file is not None:
            self._csms.load_json(read_json(local_list_file))
        self._free_vend = free_vend
        self._readers: dict[str, bool] = dict.fromkeys(reader_names, False)

    # --- called by the token sources ---

    def reader_online(self, name: str, online: bool) -> None:
        self._readers[name] = online
        self.emit_properties_changed({"Readers": self._readers_value()})

    def present(self, token: str, token_type: TokenType, source: str, connector_id: int) -> None:
        log.info("token %s (%s) presented by %s for connector %d", masked(token), token_type.value, source,
                 connector_id)
        self.TokenPresented(token, token_type.value, source, connector_id)

    def _readers_value(self) -> list[list]:
        return [[n, on] for n, on in self._readers.items()]

    # --- D-Bus ---

    @staticmethod
    def _check(token: str, token_type: str) -> tuple[str, TokenType]:
        try:
            return check_token(token, token_type)
        except ValueError as e:
            raise InvalidArgument(str(e)) from None

    @method()
    def Validate(self, token: "s", token_type: "s") -> "(ss)":
        token, kind = self._check(token, token_type)
        if self._free_vend:
            return [AuthStatus.ACCEPTED.value, "free vend"]
        now = datetime.now(UTC)
        csms = self._csms.decide(token, kind.value, now)
        if csms is not None:
            log.info("token %s (%s): %s (CSMS list)", masked(token), kind.value, csms[0])
            return list(csms)
        decision = self._list.decide(token, kind, now)
        log.info("token %s (%s): %s", masked(token), kind.value, decision.status.value)
        return [decision.status.value, decision.info]

    @method()
    def PresentToken(self, token: "s", token_type: "s", connector_id: "u") -> None:
        token, kind = self._check(token, token_type)
        require_range("connector_id", connector_id, 0, MAX_CONNECTOR_ID)
        self.present(token, kind, SOURCE_REMOTE, connector_id)

    def _save_csms_list(self) -> None:
        if self._csms_file is not None:
            write_json_atomic(self._csms_file, self._csms.to_json())

    @method()
    def UpdateLocalList(self, version: "u", full: "b", entries: "s") -> "(ss)":
        """The CSMS's local authorization list (OCPP SendLocalList): version, Full (true) or Differential,
        entries as a JSON array of OCPP AuthorizationData. Returns (Accepted | Failed | VersionMismatch, why);
        stored durably before Accepted is returned."""
        try:
            items = json.loads(entries) if entries else []
        except ValueError as e:
            raise InvalidArgument(f"entries must be a JSON array: {e}") from None
        if not isinstance(items, list):
            raise InvalidArgument("entries must be a JSON array of AuthorizationData objects")
        before = self._csms.to_json()
        status, why = self._csms.update(version, full, items)
        if status == "Accepted":
            try:
                self._save_csms_list()
            except OSError as e:
                self._csms.load_json(before)
                log.error("cannot store the local list: %s", e)
                return ["Failed", f"cannot store the list: {e.strerror or e}"]
            log.info("CSMS local list version %d (%s): %d token(s)", version, "full" if full else "differential",
                     len(self._csms))
            self.emit_properties_changed({"LocalListVersion": self._csms.version})
        else:
            log.info("CSMS local list update %d refused: %s (%s)", version, status, why)
        return [status, why]

    @method()
    def SetLocalListEnabled(self, enabled: "b") -> None:
        """OCPP LocalAuthListCtrlr.Enabled: whether the CSMS's list is used (it is kept either way)."""
        if self._csms.enabled != enabled:
            self._csms.enabled = enabled
            self._save_csms_list()
            self.emit_properties_changed({"LocalListEnabled": enabled})

    @dbus_property(access=PropertyAccess.READ)
    def LocalListVersion(self) -> "u":
        """Version of the CSMS's local list (0: none)."""
        return self._csms.version

    @dbus_property(access=PropertyAccess.READ)
    def LocalListEnabled(self) -> "b":
        """The CSMS's local list is used (OCPP LocalAuthListCtrlr.Enabled)."""
        return self._csms.enabled

    @dbus_property(access=PropertyAccess.READ)
    def CsmsListSize(self) -> "u":
        """Tokens in the CSMS's local list."""
        return len(self._csms)

    @signal()
    def TokenPresented(self, token: str, token_type: str, source: str, connector_id: int) -> "sssu":
        return [token, token_type, source, connector_id]

    @dbus_property(access=PropertyAccess.READ)
    def FreeVend(self) -> "b":
        return self._free_vend

    @dbus_property(access=PropertyAccess.READ)
    def LocalListSize(self) -> "u":
        return len(self._list)

    @dbus_property(access=PropertyAccess.READ)
    def Readers(self) -> "a(sb)":
        return self._readers_value()


class AuthSimInterface(ServiceInterface):
    """The simulated reader: `Tap(uid)` is a card held to it (SIL: `evchargectl auth tap`)."""

    def __init__(self, auth: AuthInterface, reader_name: str) -> None:
        super().__init__(names.AUTH_SIM_IFACE)
        self._auth = auth
        self._name = reader_name

    @method()
    def Tap(self, uid: "s") -> None:
        try:
            uid = check_uid(uid)
        except ValueError as e:
            raise InvalidArgument(str(e)) from None
        self._auth.present(uid, TokenType.ISO14443, self._name, 0)


class AuthService:
    def __init__(self, readers: list[Pn532Reader]) -> None:
        self.readers = readers

    async def start(self) -> None:
        for r in self.readers:
            r.start()

    async def stop(self) -> None:
        for r in self.readers:
            await r.stop()


async def build(ctx: ServiceContext) -> AuthService:
    cfg = ctx.load_config(AuthConfig)
    auth = AuthInterface(cfg.build_allow_list(), cfg.free_vend, [r.name for r in cfg.readers],
                         ctx.state_dir / "locallist.json")
    ctx.bus.export(names.AUTH_PATH, auth)
    readers: list[Pn532Reader] = []
    for entry in cfg.readers:
        if entry.type is ReaderKind.SIM:
            ctx.bus.export(names.AUTH_PATH, AuthSimInterface(auth, entry.name))
            auth.reader_online(entry.name, True)
            continue

        def on_tap(uid: str, name: str = entry.name) -> None:
            auth.present(uid, TokenType.ISO14443, name, 0)

        def on_online(online: bool, name: str = entry.name) -> None:
            auth.reader_online(name, online)

        readers.append(Pn532Reader(entry.name, entry.serial_port, entry.baudrate, on_tap=on_tap,
                                   on_online=on_online))
    if cfg.free_vend:
        log.warning("free vend: every token is accepted")
    return AuthService(readers)
