from evcharge.evse.session import BoardView, ConnectorSessions, ConnectorState, TokenOutcome

T = 1000.0


def plugged(cp="B", contactor=False, faults=()):
    return BoardView(cp_state=cp, contactor_closed=contactor, faults=tuple(faults), online=True)


def events(c):
    return [(k, d.get("event")) for k, d in c.drain_events()]


def authorized_connector():
    c = ConnectorSessions(connector_id=1, max_current_a=32)
    c.update_board(plugged(), T)
    c.present_token("CAFE01", "ISO14443", T)
    c.set_allocation(32)
    return c


def test_plug_in_starts_a_preparing_session():
    c = ConnectorSessions(connector_id=1)
    c.update_board(plugged(), T)
    assert c.state is ConnectorState.PREPARING
    assert c.session is not None and not c.session.authorized
    assert c.offer_a == 0 and c.demand_a == 0 and not c.lock
    assert events(c) == [("SessionStarted", None)]


def test_token_authorizes_and_demands_current():
    c = authorized_connector()
    assert c.demand_a == 32 and c.offer_a == 32 and c.lock
    c.update_board(plugged("C", contactor=True), T)
    assert c.state is ConnectorState.CHARGING


def test_token_before_plug_in_is_held_for_the_connection_timeout():
    c = ConnectorSessions(connector_id=1, connection_timeout_s=60)
    assert c.present_token("CAFE01", "ISO14443", T) is TokenOutcome.AUTHORIZED
    c.update_board(plugged(), T + 30)
    assert c.session.authorized and c.session.token == "CAFE01"


def test_held_token_expires():
    c = ConnectorSessions(connector_id=1, connection_timeout_s=60)
    c.present_token("CAFE01", "ISO14443", T)
    c.tick(T + 61)
    c.update_board(plugged(), T + 62)
    assert not c.session.authorized


def details(c, name):
    return [d["detail"] for k, d in c.drain_events() if d.get("event") == name]


def test_a_held_token_is_announced_and_its_lapse_too():
    c = ConnectorSessions(connector_id=1, connection_timeout_s=60)
    c.present_token("CAFE01", "ISO14443", T)
    assert details(c, "TokenHeld") == [{"token": "CAFE01", "token_type": "ISO14443", "timeout_s": 60}]
    c.tick(T + 59)
    assert details(c, "TokenExpired") == []
    c.tick(T + 61)
    assert details(c, "TokenExpired") == [{"token": "CAFE01", "reason": "Timeout"}]


def test_a_held_token_replaced_or_dropped_by_inoperative_is_said_to_lapse():
    c = ConnectorSessions(connector_id=1, connection_timeout_s=60)
    c.present_token("CAFE01", "ISO14443", T)
    c.present_token("CAFE01", "ISO14443", T + 1)  # the same card again: still held, nothing lapses
    c.present_token("BEEF02", "ISO14443", T + 2)
    evs = [(d["event"], d["detail"].get("token")) for _k, d in c.drain_events()]
    assert evs == [("TokenHeld", "CAFE01"), ("TokenHeld", "CAFE01"), ("TokenExpired", "CAFE01"),
                   ("TokenHeld", "BEEF02")]
    c.set_available(False, T + 3)
    assert details(c, "TokenExpired") == [{"token": "BEEF02", "reason": "Inoperative"}]
    c.update_board(plugged(), T + 4)
    assert c.session is None  # Inoperative: no session, and no token left for one


def test_same_token_stops_and_unplug_ends():
    c = authorized_connector()
    c.update_board(plugged("C", contactor=True), T)
    c.drain_events()
    assert c.present_token("cafe01", "ISO14443", T) is TokenOutcome.STOPPED
    assert c.state is ConnectorState.FINISHING and c.offer_a == 0
    assert c.lock  # still energised: keep locked until the contactor opens
    c.update_board(plugged("B", contactor=False), T)
    assert not c.lock
    c.update_board(BoardView(cp_state="A", online=True), T)
    evs = c.drain_events()
    ended = [d for k, d in evs if k == "SessionEnded"]
    assert ended and ended[0]["session"]["stop_reason"] == "Local"
    assert c.state is ConnectorState.AVAILABLE


def test_other_token_does_not_stop():
    c = authorized_connector()
    assert c.present_token("OTHER", "ISO14443", T) is TokenOutcome.IGNORED
    assert not c.session.stopped


def test_unplug_while_charging_ends_with_ev_disconnected():
    c = authorized_connector()
    c.update_board(plugged("C", contactor=True), T)
    c.update_board(BoardView(cp_state="A", online=True), T)
    ended = [d for k, d in c.drain_events() if k == "SessionEnded"]
    assert ended[0]["session"]["stop_reason"] == "EVDisconnected"


def test_ev_suspends_and_allocation_zero_suspends_evse():
    c = authorized_connector()
    c.update_board(plugged("B"), T)
    assert c.state is ConnectorState.SUSPENDED_EV
    c.set_allocation(0)
    assert c.state is ConnectorState.SUSPENDED_EVSE and c.offer_a == 0


def test_pause_and_resume():
    c = authorized_connector()
    assert c.pause(True)
    assert c.demand_a == 0 and c.state is ConnectorState.SUSPENDED_EVSE
    assert not c.pause(True)
    assert c.pause(False) and c.demand_a == 32


def test_rcd_fault_stops_with_ground_fault():
    c = authorized_connector()
    c.update_board(plugged("C", contactor=True), T)
    c.update_board(plugged("C", faults=["RcdTrip"]), T)
    assert c.state is ConnectorState.FAULTED
    assert c.session.stop_reason == "GroundFault" and c.offer_a == 0


def test_heartbeat_loss_does_not_stop_a_session():
    c = authorized_connector()
    c.update_board(plugged("C", faults=["HeartbeatLost"]), T)
    assert not c.session.stopped
    assert c.state is not ConnectorState.FAULTED


def test_inoperative_refuses_new_sessions_but_finishes_running_one():
    c = authorized_connector()
    c.set_available(False, T)
    assert not c.session.stopped and c.demand_a > 0  # the running session charges on (OCPP "Scheduled")
    c.update_board(BoardView(cp_state="A", online=True), T)
    assert c.state is ConnectorState.UNAVAILABLE
    c.drain_events()
    c.update_board(plugged(), T)
    assert c.session is None and c.state is ConnectorState.UNAVAILABLE
    assert c.present_token("CAFE01", "ISO14443", T) is TokenOutcome.IGNORED
    c.set_available(True, T)
    assert c.session is not None and c.state is ConnectorState.PREPARING


def test_energy_counts_from_authorization():
    c = ConnectorSessions(connector_id=1)
    c.update_meter(1000.0)
    c.update_board(plugged(), T)
    c.update_meter(1005.0)
    c.present_token("CAFE01", "ISO14443", T)
    c.update_meter(1500.0)
    assert c.session.energy_wh == 495.0


def test_state_survives_a_restart():
    c = authorized_connector()
    c.update_board(plugged("C", contactor=True), T)
    saved = c.to_json()
    again = ConnectorSessions(connector_id=1)
    again.load_json(saved)
    assert again.session.id == c.session.id and again.session.authorized
    again.drain_events()
    again.update_board(plugged("C"), T)  # still plugged after the restart: same session, no new one
    assert [k for k, _ in again.drain_events()] == []
    assert again.session.id == c.session.id and again.demand_a == 32


def test_restart_after_unplug_ends_the_saved_session():
    c = authorized_connector()
    again = ConnectorSessions(connector_id=1)
    again.load_json(c.to_json())
    again.update_board(BoardView(cp_state="A", online=True), T)
    ended = [d for k, d in again.drain_events() if k == "SessionEnded"]
    assert ended and ended[0]["session"]["stop_reason"] == "EVDisconnected"


def test_board_offline_is_not_an_unplug():
    c = authorized_connector()
    c.update_board(BoardView(cp_state="B", online=False), T)
    assert c.session is not None and not c.session.stopped


# --- ISO 15118 / DIN 70121 (HLC) ------------------------------------------------------------------

def hlc_connector():
    c = ConnectorSessions(connector_id=1, max_current_a=32, hlc_enabled=True)
    c.update_board(plugged(), T)
    c.drain_events()
    return c


def test_hlc_connector_asks_for_digital_communication():
    assert not ConnectorSessions(connector_id=1).digital_communication
    c = hlc_connector()
    assert c.digital_communication


def test_hlc_authorization_is_the_usual_token_flow():
    c = hlc_connector()
    assert c.hlc_started("iso2", "0200000000E1")
    assert c.hlc_authorization() == "Ongoing"
    c.present_token("CAFE01", "ISO14443", T)
    assert c.hlc_authorization() == "Accepted"
    assert ("SessionEvent", "HlcStarted") in events(c)


def test_hlc_power_only_between_power_delivery_start_and_stop():
    c = hlc_connector()
    c.hlc_started("iso2", "EV")
    c.present_token("CAFE01", "ISO14443", T)
    c.set_allocation(32)
    assert c.demand_a == 0 and c.offer_a == 0 and c.lock  # authorized, locked, no power yet
    assert c.hlc_power_delivery(True, 16.0)
    assert c.demand_a == 16.0 and c.offer_a == 16.0
    assert c.hlc_power_delivery(False, 0.0)
    assert c.demand_a == 0 and c.session and not c.session.stopped


def test_hlc_power_delivery_refused_before_authorization():
    c = hlc_connector()
    c.hlc_started("din", "EV")
    assert not c.hlc_power_delivery(True, 16.0)
    assert c.demand_a == 0


def test_hlc_stop_stops_the_session_and_leaves_digital_communication():
    c = hlc_connector()
    c.hlc_started("iso2", "EV")
    c.present_token("CAFE01", "ISO14443", T)
    c.hlc_power_delivery(True, 16.0)
    c.hlc_stopped("sequence timeout: no request for 60 s")
    s = c.session
    assert s is not None and s.stopped and s.stop_reason == "Other" and not s.hlc_power
    assert c.demand_a == 0 and not c.digital_communication  # X1: safe until unplug
    c.update_board(plugged("A"), T)
    c.update_board(plugged("B"), T)
    assert c.digital_communication  # a new plug-in starts over


def test_hlc_session_stop_by_ev():
    c = hlc_connector()
    c.hlc_started("iso2", "EV")
    c.hlc_stopped("SessionStop(Terminate)")
    assert c.session is not None and c.session.stop_reason == "StoppedByEV"


def test_hlc_refused_without_session_or_hlc():
    c = ConnectorSessions(connector_id=1, hlc_enabled=True)
    assert not c.hlc_started("iso2", "EV")
    assert c.hlc_authorization() == "Rejected"
    plain = ConnectorSessions(connector_id=1)
    plain.update_board(plugged(), T)
    assert not plain.hlc_started("iso2", "EV")


# --- SLAC results (ISO 15118-3) ------------------------------------------------------------------

def slac_events(c):
    return [(e[1]["event"], e[1]["detail"]) for e in c.drain_events() if e[0] == "SessionEvent"
            and e[1]["event"].startswith("Slac")]


def test_slac_match_waits_for_the_v2g_session():
    c = hlc_connector()
    c.slac_result("matched", "", T)
    assert slac_events(c) == [("SlacMatched", {})]
    assert c.digital_communication
    c.tick(T + c.v2g_after_match_s - 1)
    assert c.hlc_started("iso2", "EV")
    c.tick(T + c.v2g_after_match_s + 1)
    assert c.digital_communication and not c.session.stopped  # the V2G session came in time


def test_slac_failure_retries_after_x1_then_falls_back_to_basic_charging():
    c = hlc_connector()  # slac_retries=1, slac_fallback="basic"
    c.present_token("CAFE01", "ISO14443", T)
    c.set_allocation(32)
    c.slac_result("failed", "no CM_SLAC_PARM.REQ from the EV", T)
    assert c.ef_pulses == 1 and c.digital_communication  # the board shows F for 4 s, then 5 % again
    assert slac_events(c) == [("SlacFailed", {"reason": "no CM_SLAC_PARM.REQ from the EV", "attempt": 1,
                                              "action": "retry"})]
    c.tick(T + 3.9)
    assert slac_events(c) == []
    c.tick(T + 4.0)
    assert slac_events(c) == [("SlacRetry", {"attempt": 2})]
    c.slac_result("failed", "no CM_SLAC_PARM.REQ from the EV", T + 60)
    assert slac_events(c)[0][1]["action"] == "basic"
    s = c.session
    assert s.hlc_basic and not s.stopped and not c.digital_communication and c.ef_pulses == 1
    assert c.demand_a == 32 and c.offer_a == 32  # basic charging: the board shows nominal PWM (after 3 s X1)
    assert not c.hlc_started("iso2", "EV")  # too late for HLC in this session
    c.update_board(plugged("A"), T + 61)
    c.update_board(plugged("B"), T + 62)
    assert c.digital_communication  # a new plug-in tries HLC again


def test_slac_failure_with_stop_fallback_stops_the_session():
    c = ConnectorSessions(connector_id=1, max_current_a=32, hlc_enabled=True, slac_retries=0, slac_fallback="stop")
    c.update_board(plugged(), T)
    c.present_token("CAFE01", "ISO14443", T)
    c.drain_events()
    c.slac_result("failed", "SET_KEY not confirmed", T)
    s = c.session
    assert s.stopped and s.stop_reason == "Other" and c.demand_a == 0 and not c.lock
    assert not c.digital_communication  # X1 until unplug


def test_slac_match_without_v2g_session_counts_as_a_failure():
    c = ConnectorSessions(connector_id=1, max_current_a=32, hlc_enabled=True, slac_retries=0)
    c.update_board(plugged(), T)
    c.slac_result("matched", "", T)
    c.tick(T + c.v2g_after_match_s)
    ev = slac_events(c)
    assert ev[-1][0] == "SlacFailed" and "no V2G session" in ev[-1][1]["reason"]
    assert c.session.hlc_basic and not c.digital_communication


def test_slac_result_ignored_without_hlc_or_once_v2g_runs():
    c = ConnectorSessions(connector_id=1, max_current_a=32)
    c.update_board(plugged(), T)
    c.slac_result("failed", "x", T)
    assert not c.session.slac_failures
    c = hlc_connector()
    c.hlc_started("iso2", "EV")
    c.slac_result("failed", "x", T)
    assert c.digital_communication and not c.session.slac_failures


def test_hlc_error_with_basic_fallback_continues_as_basic_charging():
    c = ConnectorSessions(connector_id=1, max_current_a=32, hlc_enabled=True, hlc_error_fallback="basic")
    c.update_board(plugged(), T)
    c.hlc_started("iso2", "EV")
    c.present_token("CAFE01", "ISO14443", T)
    c.set_allocation(32)
    c.hlc_power_delivery(True, 16.0)
    c.drain_events()
    c.hlc_stopped("TCP connection closed by the EV")
    s = c.session
    assert not s.stopped and s.hlc_basic and not s.hlc and not c.digital_communication
    assert c.demand_a == 32 and c.offer_a == 32  # nominal PWM (the board shows it after 3 s of X1)
    ev = [e[1]["event"] for e in c.drain_events()]
    assert ev == ["HlcStopped", "HlcFallback"]
    c.hlc_stopped("SessionStop(Terminate)")  # nothing left to stop on the HLC side
    assert not c.session.stopped


def test_hlc_error_with_basic_fallback_stops_an_unauthorized_session():
    c = ConnectorSessions(connector_id=1, max_current_a=32, hlc_enabled=True, hlc_error_fallback="basic")
    c.update_board(plugged(), T)
    c.hlc_started("iso2", "EV")
    c.hlc_stopped("sequence timeout: no request for 60 s")
    assert c.session.stopped and c.session.stop_reason == "Other" and not c.digital_communication
