"""Parsing received mail: headers, bodies, attachments, and bytes that are barely mail at all."""

import base64
import hashlib
import random
from datetime import UTC, datetime, timedelta, timezone
from email import policy

import pytest

from helpdesk.channels.email.parse import ParsedEmail, parse_addresses, parse_message
from helpdesk.tickets import IncomingFile
from tests.conftest import corpus

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
PDF = b"%PDF-1.4\n\x00\x01\x02\xff binary \r\n tail"


def mail(headers: str, body: bytes | str = b"Hello", *, crlf: bool = False) -> bytes:
    """Return a raw message from a header block and a body."""
    raw = headers.strip("\n").encode("utf-8") + b"\n\n" + (body.encode("utf-8") if isinstance(body, str) else body)
    return raw.replace(b"\n", b"\r\n") if crlf else raw


SIMPLE = mail(
    """From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <Juergen.Mueller@Example.COM>
To: Support <support@helpdesk.test>, "Doe, Jane" <jane@example.com>
Cc: boss@example.com
Reply-To: Replies <Replies@Example.com>
Subject: Printer
 on fire
Date: Tue, 1 Mar 2011 18:02:00 +0530
Message-ID: <abc.123@mail.example.com>
In-Reply-To: <ours-2@helpdesk.test>
References: <ours-1@helpdesk.test>
  <ours-0@helpdesk.test>
Content-Type: text/plain; charset=utf-8""",
    "It is still burning.\n",
    crlf=True,
)


def test_headers_of_an_ordinary_mail():
    parsed = parse_message(SIMPLE)
    assert isinstance(parsed, ParsedEmail)
    assert parsed.message_id == "abc.123@mail.example.com"
    assert parsed.from_address == "juergen.mueller@example.com"
    assert parsed.from_name == "Jürgen Müller"
    assert parsed.to == ["support@helpdesk.test", "jane@example.com"]
    assert parsed.cc == ["boss@example.com"]
    assert parsed.reply_to == "replies@example.com"
    assert parsed.subject == "Printer on fire"
    assert parsed.date == datetime(2011, 3, 1, 18, 2, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert parsed.in_reply_to == ["ours-2@helpdesk.test"]
    assert parsed.references == ["ours-1@helpdesk.test", "ours-0@helpdesk.test", "ours-2@helpdesk.test"]
    assert parsed.text == "It is still burning.\n"
    assert parsed.visible_reply == "It is still burning."
    assert parsed.html is None
    assert parsed.defects == []
    assert parsed.parse_failed is False
    assert parsed.header("message-id") == "<abc.123@mail.example.com>"
    assert parsed.header("X-Absent") == ""


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("=?utf-8?b?" + base64.b64encode("Grüße – Ticket".encode()).decode() + "?=", "Grüße – Ticket"),
        ("=?iso-8859-1?q?Caf=E9_cr=E8me?=", "Café crème"),
        ("=?UTF-8?B?w6TDtsO8?= =?UTF-8?Q?_und_mehr?=", "äöü und mehr"),
        ("=?x-unknown?q?broken?= words", "broken words"),
        ("Plain\r\n\tfolded\r\n subject", "Plain folded subject"),
    ],
)
def test_encoded_subjects_are_decoded_without_line_breaks(encoded, decoded):
    parsed = parse_message(mail(f"From: a@example.com\nSubject: {encoded}"))
    assert parsed.subject == decoded
    assert "\n" not in parsed.subject and "\r" not in parsed.subject


def test_raw_utf8_in_headers_is_read():
    parsed = parse_message("From: Zoë <zoe@example.com>\nSubject: Größe\n\nHallo".encode())
    assert (parsed.subject, parsed.from_name) == ("Größe", "Zoë")


def test_unknown_charset_falls_back_to_utf8_then_windows_1252():
    utf8 = parse_message(mail("Content-Type: text/plain; charset=x-unknown", "naïve café".encode()))
    assert utf8.text == "naïve café"
    assert any("x-unknown" in d for d in utf8.defects)
    latin = parse_message(mail("Content-Type: text/plain; charset=x-unknown", b"caf\xe9 \x93quoted\x94"))
    assert latin.text == "café “quoted”"


def test_text_not_valid_in_its_declared_charset_is_replaced_not_fatal():
    parsed = parse_message(mail("Content-Type: text/plain; charset=utf-8", b"ok \xff\xfe then more"))
    assert parsed.text.startswith("ok ") and parsed.text.endswith(" then more")
    iso = parse_message(mail("Content-Type: text/plain; charset=iso-8859-1", b"caf\xe9"))
    assert iso.text == "café"


def test_declared_multipart_without_boundary_keeps_its_text():
    parsed = parse_message(mail("Content-Type: multipart/mixed", "Just text, no parts.\n"))
    assert "Just text, no parts." in parsed.text
    assert parsed.defects


def test_wrong_boundary_is_recovered_from_the_body():
    body = "--real\nContent-Type: text/plain\n\nThe words.\n--real--\n"
    parsed = parse_message(mail('Content-Type: multipart/alternative; boundary="declared"', body))
    assert parsed.text.strip() == "The words."
    assert any("boundary" in d for d in parsed.defects)


def test_html_only_mail_gets_a_text_body():
    parsed = parse_message(mail("Content-Type: text/html; charset=utf-8",
                                "<html><body><p>Hello <b>there</b></p><script>x()</script></body></html>"))
    assert parsed.html.startswith("<html>")
    assert "<script>" in parsed.html  # unsanitised: the ticket service cleans it
    assert parsed.text == "Hello there"


def test_attachments_and_inline_images_keep_their_bytes():
    boundary, related = "outer-b", "related-b"
    body = f"""--{boundary}
Content-Type: multipart/related; boundary="{related}"

--{related}
Content-Type: text/html; charset=utf-8

<p>See <img src="cid:logo@example.com"></p>
--{related}
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-ID: <logo@example.com>
Content-Disposition: inline

{base64.encodebytes(PNG).decode()}
--{related}--

--{boundary}
Content-Type: application/pdf
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename*=utf-8''Rechnung%20M%C3%A4rz.pdf

{base64.encodebytes(PDF).decode()}
--{boundary}--
"""
    parsed = parse_message(mail(f'Subject: files\nContent-Type: multipart/mixed; boundary="{boundary}"', body))
    assert parsed.text == "See"
    image, pdf = parsed.attachments
    assert image == IncomingFile("image.png", "image/png", PNG, "logo@example.com", True)
    assert pdf == IncomingFile("Rechnung März.pdf", "application/pdf", PDF, None, False)


def test_image_with_a_content_id_the_html_does_not_show_is_not_inline():
    body = f"""--b
Content-Type: text/plain

No HTML here.
--b
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-ID: <photo@example.com>
Content-Disposition: inline; filename="photo.png"

{base64.encodebytes(PNG).decode()}
--b--
"""
    [photo] = parse_message(mail('Content-Type: multipart/mixed; boundary="b"', body)).attachments
    assert (photo.filename, photo.data, photo.content_id) == ("photo.png", PNG, "photo@example.com")
    assert photo.inline is False


def test_text_attachment_is_not_the_body():
    body = """--b
Content-Type: text/plain

The body.
--b
Content-Type: text/plain; name="log.txt"
Content-Disposition: attachment; filename="log.txt"

line 1
--b--
"""
    parsed = parse_message(mail('Content-Type: multipart/mixed; boundary="b"', body))
    assert parsed.text.strip() == "The body."
    assert [(a.filename, a.data) for a in parsed.attachments] == [("log.txt", b"line 1")]


def test_missing_message_id_gets_a_stable_content_hash():
    raw = mail("From: a@example.com\nSubject: no id")
    first, again = parse_message(raw), parse_message(raw)
    assert first.message_id == "sha256:" + hashlib.sha256(raw).hexdigest() == again.message_id
    assert parse_message(raw + b"!").message_id != first.message_id
    assert parse_message(mail("Message-ID: <>")).message_id.startswith("sha256:")


def test_date_without_zone_is_utc_and_a_bad_date_is_a_defect():
    assert parse_message(mail("Date: Tue, 1 Mar 2011 18:02:00 -0000")).date == datetime(2011, 3, 1, 18, 2, tzinfo=UTC)
    broken = parse_message(mail("Date: yesterday-ish"))
    assert broken.date is None
    assert any("Date" in d for d in broken.defects)


def test_parse_addresses():
    assert parse_addresses('"Doe, Jane" <Jane@Example.com>, bob@example.org') == [
        ("Doe, Jane", "jane@example.com"), ("", "bob@example.org")]
    assert parse_addresses("=?utf-8?q?Ren=C3=A9?= <rene@example.com>") == [("René", "rene@example.com")]
    assert parse_addresses("undisclosed-recipients:;") == []
    assert parse_addresses("") == [] and parse_addresses(None) == []
    assert parse_addresses("<<<@@@>>>, \x00") == []


def _senders() -> list[str]:
    """Return From values in and just outside the plain forms parse.py reads without the standard parser."""
    rng = random.Random(20240602)
    values = ["Ada <Ada@Example.com>", "a.b+c@x-y.z", "<q@r.s>", "O'Brien Mary-Ann <x@y>", "Ada  <a@b>",
              "Ada <a@b> ", "Ada. <a@b>", "Ada <a..b@c>", "Ada <.a@b>", "Ada <a@b.>", "Ada<a@b>", "=?x?q?A?= <a@b>",
              '"Ada" <a@b>', "Ada <a@b>, Bob <c@d>", "a@b (Ada)", "Ada <a@[1.2.3.4]>", "Zoë <z@b>"]
    for _ in range(300):
        atom = "".join(rng.choice("aZ9'_+-.=") for _ in range(rng.randint(1, 5)))
        words = " ".join("".join(rng.choice("aZ9'_-.") for _ in range(rng.randint(1, 4))) for _ in range(2))
        values += [f"{atom}@{atom}", f"<{atom}@ex-{atom}.com>", f"{words} <{atom}@{atom}.org>"]
    return values


def test_plain_senders_read_as_the_standard_parser_reads_them():
    for value in _senders():
        parsed = parse_message(mail(f"From: {value}"))
        try:
            expected = parse_addresses(policy.default.header_factory("From", value))
        except Exception:  # the standard parser trips over a phrase starting with a dot
            expected = parse_addresses(value)
        assert (parsed.from_name, parsed.from_address) == (expected[0] if expected else ("", "")), value


MALFORMED = ["mail_malformed_1.eml", "mail_malformed_2.eml", "mail_malformed_3.eml", "mail_outlook_1.eml"]


@pytest.mark.parametrize("name", MALFORMED)
def test_mail_parser_corpus_parses(name):
    raw = corpus("mail-parser", name).read_bytes()
    parsed = parse_message(raw)
    assert parsed.parse_failed is False
    assert parsed.message_id
    assert "\x00" not in parsed.text + (parsed.html or "") + parsed.subject


def test_malformed_1_nested_parts_share_a_boundary():
    parsed = parse_message(corpus("mail-parser", "mail_malformed_1.eml").read_bytes())
    assert "Sent from my iPhone" in parsed.text
    assert parsed.defects
    [archive] = parsed.attachments
    assert (archive.filename, archive.content_type) == ("20160523_916527.jpg_.zip", "application/zip")
    assert archive.data.startswith(b"PK\x03\x04")
    assert archive.content_id == "002801d1b5bd$8889be70$6900a8c0@NIKX7058"


def test_malformed_2_delivery_report():
    parsed = parse_message(corpus("mail-parser", "mail_malformed_2.eml").read_bytes())
    assert "Your message has encountered delivery problems" in parsed.text
    assert [a.content_type for a in parsed.attachments] == ["message/delivery-status", "message/rfc822-headers"]


def test_malformed_3_declared_boundary_is_wrong():
    parsed = parse_message(corpus("mail-parser", "mail_malformed_3.eml").read_bytes())
    assert any("boundary" in d for d in parsed.defects)
    assert "Problemas para visualizar" in parsed.text
    assert parsed.html and "<html>" in parsed.html
    assert parsed.subject == "Ahorre Dinero en su Recibo de Luz"


def test_outlook_msg_file_is_kept_as_an_attachment():
    raw = corpus("mail-parser", "mail_outlook_1.eml").read_bytes()
    parsed = parse_message(raw)
    assert parsed.defects
    assert parsed.text == ""
    assert parsed.attachments == [IncomingFile("message.msg", "application/vnd.ms-outlook", raw)]


def _garbage() -> list[bytes]:
    rng = random.Random(20240601)
    samples = [b"", b"\x00\xff" * 100, b"\n", b"\r\n\r\n", b":", b"From:", b"\xff" * 4096]
    samples += [rng.randbytes(rng.randint(1, 3000)) for _ in range(40)]
    samples += [
        b"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n--\n",
        b"Content-Type: multipart/mixed; boundary=x\n\n" + b"--x\nContent-Type: multipart/mixed; boundary=x\n\n" * 200,
        b"Content-Type: text/plain; charset=\"rot13\"\n\nuryyb",
        b"Content-Type: text/plain; charset=\"utf-16\"\n\n\xff",
        b"Content-Type: text/plain; charset=\"\x00\xff\"\n\nhi",
        b"Content-Transfer-Encoding: base64\n\n!!!not base64===\n",
        b"Content-Transfer-Encoding: quoted-printable\n\n=ZZ=\n=",
        b"From: \xff\xfe <\x00@>\nTo: ,,,,<>\nCc: \"unterminated <x@y\nMessage-ID: <\xff\x00>\n\nbody",
        b"Date: Mon, 99 Foo 99999 99:99:99 +9999\nSubject: =?utf-8?b?####?=\n\n",
        b"Content-Type: message/rfc822\n\nnot a message at all",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/"
        b"delivery-status\n\n\xff\xfe\n--b--",
        b"Content-Disposition: attachment; filename*=bogus''%ZZ%\nContent-Type: application/x; name*0*=x''\n\n",
        b"Message-ID: <" + b"a" * 5000 + b">\n\n",
        ("Subject: " + "=?utf-8?q?x?=" * 2000 + "\n\n").encode(),
    ]
    return samples


@pytest.mark.parametrize("raw", _garbage(), ids=lambda raw: hashlib.sha256(raw).hexdigest()[:8])
def test_garbage_never_raises(raw):
    parsed = parse_message(raw)
    assert isinstance(parsed, ParsedEmail)
    assert parsed.message_id and len(parsed.message_id) <= 998
    for value in (parsed.text, parsed.html or "", parsed.subject, parsed.visible_reply, *parsed.defects):
        value.encode("utf-8")  # storable: no lone surrogates
        assert "\x00" not in value


@pytest.mark.parametrize("folder", ["mail-parser", "flanker-bounces"])
def test_every_truncation_of_the_corpora_parses(folder):
    for path in sorted(corpus(folder).glob("*.eml")):
        raw = path.read_bytes()
        for cut in range(0, min(len(raw), 6000), 97):
            assert isinstance(parse_message(raw[:cut]), ParsedEmail)


def test_non_bytes_input_is_tolerated():
    assert parse_message("Subject: str input\n\nbody").subject == "str input"
    assert parse_message(bytearray(b"Subject: ba\n\nbody")).subject == "ba"
    assert parse_message(None).message_id == "sha256:" + hashlib.sha256(b"").hexdigest()
