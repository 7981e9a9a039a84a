"""Where GetLog / GetDiagnostics upload to and how a failed FTP attempt is reported
(ocpp/logupload.py, pure parts)."""

from __future__ import annotations

from evcharge.ocpp.logupload import DIAGNOSTICS16, LOG16, V201, location, notification

NAME = "CS1-DiagnosticsLog-20260101T000000Z-7.log"


def test_a_directory_gets_the_station_file_name_and_a_file_url_names_the_file():
    assert location("ftp://u:p@h/logs/", NAME) == ("ftp://u:p@h/logs/" + NAME, NAME)
    assert location("ftps://h/logs/mine%20now.log", NAME) == ("ftps://h/logs/mine%20now.log", "mine now.log")
    assert location("ftp://h:2121", NAME) == ("ftp://h:2121/" + NAME, NAME)     # no path: the login directory
    assert location("https://h/upload/", NAME) == ("https://h/upload/" + NAME, NAME)
    assert location("https://h/upload/security.log", NAME) == ("https://h/upload/security.log", "security.log")


def test_a_generated_name_is_quoted_into_an_ftp_url():
    odd = "CS#1?-SecurityLog-1.log"
    url, name = location("ftp://h/d/", odd)
    assert name == odd and url == "ftp://h/d/CS%231%3F-SecurityLog-1.log"


def test_locations_that_are_refused():
    for url in ("sftp://h/logs/", "file:///tmp/", "ftp:///logs/", "ftp://h:99999/", "", "logs/"):
        assert location(url, NAME) is None, url


def test_ftp_failure_statuses_per_protocol():
    for status in ("PermissionDenied", "BadMessage", "NotSupportedOperation", "UploadFailure"):
        assert notification(V201, status, 5) == ("LogStatusNotification", {"status": status, "requestId": 5})
        assert notification(LOG16, status, 5) == ("LogStatusNotification", {"status": status, "requestId": 5})
        # 1.6 core DiagnosticsStatus has a single failure status
        assert notification(DIAGNOSTICS16, status, None) == ("DiagnosticsStatusNotification",
                                                             {"status": "UploadFailed"})
