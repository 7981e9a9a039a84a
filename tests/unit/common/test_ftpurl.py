"""FTP locations (common/ftpurl.py): URL parsing, directory vs file, reply-code mapping (pure)."""

from __future__ import annotations

import pytest
from evcharge.common.ftpurl import (
    ANONYMOUS,
    ANONYMOUS_PASSWORD,
    CONNECT,
    CWD,
    LOGIN,
    TLS,
    TRANSFER,
    is_ftp,
    parse,
    redact,
    reply_code,
    upload_status,
)


def test_full_url_with_percent_encoded_credentials():
    loc = parse("ftp://diag%40cpo:p%3Ass%2Fw%20d@logs.example.com:2121/station/42/")
    assert (loc.secure, loc.host, loc.port) == (False, "logs.example.com", 2121)
    assert (loc.user, loc.password) == ("diag@cpo", "p:ss/w d")
    assert loc.directories == ("station", "42") and loc.is_directory
    assert loc.with_filename("a.log").filename == "a.log"


def test_optional_parts_default_as_ocpp_16_section_8_says():
    loc = parse("ftp://host/fw.bin")
    assert (loc.port, loc.user, loc.password) == (21, ANONYMOUS, ANONYMOUS_PASSWORD)
    assert loc.directories == () and loc.filename == "fw.bin" and not loc.is_directory
    assert parse("ftp://user@host/x").password == ""              # no :password
    assert parse("ftp://host").is_directory and parse("ftp://host/").directories == ()
    assert parse("ftps://[::1]:990/a/b").host == "::1"            # IPv6 literal
    assert parse("FTPS://host/x").secure                          # scheme is case-insensitive


def test_paths_as_rfc_1738_reads_them():
    assert parse("ftp://h/a//b/c").directories == ("a", "b")      # empty segments: no CWD ""
    loc = parse("ftp://h/%2Fvar/log/")                            # %2F: from the root
    assert loc.directories == ("/var", "log") and loc.is_directory
    assert parse("ftp://h/dir/fw%20v2.raucb").filename == "fw v2.raucb"
    assert parse("ftp://h/dir/fw.raucb;type=i").filename == "fw.raucb"


def test_a_file_location_keeps_its_name():
    loc = parse("ftp://h/logs/mine.log")
    assert loc.with_filename("generated.log") is loc


@pytest.mark.parametrize("url, why", [
    ("http://host/x", "not an ftp"), ("ftp:///x", "no host"), ("ftp://host:99999/x", "not a valid URL"),
    ("ftp://host/x?a=1", "no query"), ("ftp://host/a%0D%0ADELE%20x", "line break"),
    ("ftp://us%0Aer:pw@host/x", "line break"),
])
def test_bad_urls_say_what_is_wrong(url, why):
    with pytest.raises(ValueError, match=why):
        parse(url)


def test_a_file_name_must_be_one_segment():
    with pytest.raises(ValueError):
        parse("ftp://h/d/").with_filename("a/b")


def test_which_urls_are_ftp_and_what_logs_show():
    assert is_ftp("ftp://h/x") and is_ftp("ftps://h/x") and is_ftp("FTP://h/x")
    assert not any(is_ftp(u) for u in ("sftp://h/x", "http://h/x", "/var/x", "ftp:/h"))
    assert redact("ftp://u:secret@h:21/d/") == "ftp://***@h:21/d/"
    assert redact("https://h/a@b") == "https://h/a@b" and redact("not a url") == "not a url"
    assert "secret" not in parse("ftps://u:secret@h/d/f").redacted()
    assert parse("ftps://u:secret@h/d/f").redacted() == "ftps://u@h:21/d/f"


def test_reply_codes():
    assert reply_code("530 Login incorrect.") == 530
    assert reply_code("  226 ok") == 226
    assert reply_code("hello") is None and reply_code("") is None


@pytest.mark.parametrize("step, reply, status", [
    (LOGIN, "530 Login incorrect.", "PermissionDenied"),
    (TRANSFER, "532 Need account for storing files.", "PermissionDenied"),
    (TRANSFER, "550 Permission denied.", "PermissionDenied"),
    (TRANSFER, "553 File name not allowed.", "PermissionDenied"),
    (CWD, "550 No such file or directory.", "UploadFailure"),       # a missing directory
    (TLS, "500 Command AUTH not understood.", "NotSupportedOperation"),   # no FTPS on the server
    (TLS, "534 Request denied for policy reasons.", "NotSupportedOperation"),
    (TRANSFER, "502 Command not implemented.", "NotSupportedOperation"),
    (TRANSFER, "501 Syntax error in parameters.", "BadMessage"),
    (LOGIN, "503 Login with USER first.", "BadMessage"),
    (CONNECT, "SSH-2.0-OpenSSH_9.2", "BadMessage"),                # not an FTP server
    (TRANSFER, "452 Insufficient storage.", "UploadFailure"),
    (TRANSFER, "552 Exceeded storage allocation.", "UploadFailure"),
    (CONNECT, "421 Too many connections.", "UploadFailure"),
    (CONNECT, None, "UploadFailure"),                               # refused, timeout, TLS error
    (TLS, None, "UploadFailure"),                                   # e.g. certificate not trusted
])
def test_reply_code_to_upload_status(step, reply, status):
    assert upload_status(step, reply) == status
