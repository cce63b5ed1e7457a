"""Folding quoted history and signatures away from what the customer wrote."""

import pytest

from helpdesk.channels.email.quotes import split_reply
from tests.conftest import corpus

#: file -> (the visible reply starts with, it keeps, it no longer shows)
EXPECTED = {
    "correct_sig.txt": ("this is an email with a correct -- signature.", "signature.", "rick"),
    "email_1_1.txt": ("Hi folks", "I am currently using the Java HTTP API.", "riak-users mailing list"),
    "email_1_2.txt": ("Hi,", "You can list the keys for the bucket", "Abhishek Kona wrote"),
    "email_1_3.txt": ("Oh thanks.", "Having the function would be great.", "Russell Brown wrote"),
    "email_1_4.txt": ("Awesome! I haven't had another problem with it.", "Awesome!", "Loader seems"),
    "email_1_5.txt": ("One: Here's what I've got.", "It goes on and on", "\n>"),
    "email_1_6.txt": ("I get proper rendering as well.", "as well.", "Was this caching related"),
    "email_1_7.txt": (":+1:", ":+1:", "Steps 0-2 are in prod"),
    "email_1_8.txt": ("I will reply under this one", "and under this.", "here's some stuff I can write"),
    "email_2_1.txt": ("Outlook with a reply", "Outlook with a reply", "Google Apps Sync"),
    "email_2_2.txt": ("Outlook with a reply directly above line", "above line", "CRM Comments"),
    "email_2_3.txt": ("Outlook with a reply above headers using unusual format", "unusual format", "Kim via Site"),
    "email_BlackBerry.txt": ("Here is another email", "another email", "Sent from my BlackBerry"),
    "email_bullets.txt": ("test 2 this should list second", "   - and another", "Give us an example"),
    "email_gmail.txt": ("This is a test for inbox replying to a github message.", "github message.", "too lazy"),
    "email_headers_no_delimiter.txt": ("And another reply!", "another reply!", "Dan Watson"),
    "email_iPhone.txt": ("Here is another email", "another email", "Sent from my iPhone"),
    "email_multi_word_sent_from_my_mobile_device.txt": ("Here is another email", "another email", "Verizon"),
    "email_one_is_not_on.txt": ("Thank, this is really helpful.", "Locally (on development)", "Dave Tapley"),
    "email_partial_quote_header.txt": ("On your remote host you can run:", "the tunnel is not working.", "Plymale"),
    "email_sent_from_my_not_signature.txt": ("Here is another email", "Sent from my desk, is much easier", "\n>"),
    "email_sig_delimiter_in_middle_of_line.txt": ("Hi there!", "kthxbai", "\n>"),
    "greedy_on.txt": ("On your remote host you can run:", "the tunnel is not working.", "George Plymale"),
    "pathological.txt": ("I think you're onto something.", "get back to a computer.", "John Sullivan"),
}


def test_every_sample_has_an_expectation():
    folder = corpus("email-reply-parser")
    assert {p.name for p in folder.glob("*.txt")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_sample_keeps_the_visible_reply(name):
    starts, keeps, hides = EXPECTED[name]
    text = corpus("email-reply-parser", name).read_text(encoding="utf-8")
    visible, quoted = split_reply(text)
    assert visible.startswith(starts)
    assert keeps in visible
    assert hides not in visible
    assert len(visible) <= len(text)


def test_sentence_starting_sent_from_my_is_not_a_signature():
    text = corpus("email-reply-parser", "email_sent_from_my_not_signature.txt").read_text(encoding="utf-8")
    visible, _ = split_reply(text)
    assert visible == "Here is another email\n\nSent from my desk, is much easier then my mobile phone."


def test_quoted_history_is_kept_in_the_rest():
    visible, quoted = split_reply(corpus("email-reply-parser", "email_1_3.txt").read_text(encoding="utf-8"))
    assert visible == "Oh thanks.\n\nHaving the function would be great."
    assert "Russell Brown wrote" in quoted
    assert "-Abhishek Kona" in quoted


@pytest.mark.parametrize(
    ("text", "reply", "history"),
    [
        ("Danke, das hilft.\n\nAm Di., 1. März 2011 um 18:02 Uhr schrieb Anna Agent <\nanna@example.com>:\n> Hallo",
         "Danke, das hilft.", "schrieb Anna Agent"),
        ("Merci beaucoup !\n\nLe mar. 1 mars 2011 à 18:02, Anna <anna@example.com> a écrit :\n\n> Bonjour",
         "Merci beaucoup !", "a écrit"),
        ("Gracias\n\nEl mar., 1 mar. 2011 a las 18:02, Anna (<anna@example.com>) escribió:\n> Hola",
         "Gracias", "escribió"),
        ("Grazie\n\nIl giorno mar 1 mar 2011 alle ore 18:02 Anna <anna@example.it> ha\nscritto:\n> ciao",
         "Grazie", "scritto"),
        ("Dank je\n\nOp di 1 mrt. 2011 om 18:02 schreef Anna <anna@example.nl>:\n> Hoi", "Dank je", "schreef"),
        ("Thanks!\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nOld text", "Thanks!", "Old text"),
        ("Vielen Dank\n\nVon: Support <s@example.com>\nGesendet: Montag, 1. März 2011 18:02\nAn: Kunde\n\nAlt",
         "Vielen Dank", "Gesendet"),
        ("Merci\n\nDe : Support <s@example.com>\nEnvoyé : lundi 1 mars 2011 18:02\nÀ : Client\n\nAncien",
         "Merci", "Envoyé"),
        ("Thanks, works now.\n\nOn Tue, Mar 1, 2011 at 6:02 PM, Support Team <support@example.com>\nwrote:\n\n> old",
         "Thanks, works now.", "> old"),
    ],
)
def test_reply_headers_in_other_languages_and_layouts(text, reply, history):
    visible, quoted = split_reply(text)
    assert visible == reply
    assert history in quoted


def test_reply_below_a_localised_header_is_found():
    visible, quoted = split_reply("Il giorno mar 1 mar 2011 alle ore 18:02 Anna <a@example.it> ha scritto:\n"
                                  "> ciao\n\nrisposta sotto")
    assert visible == "risposta sotto"
    assert "> ciao" in quoted


def test_a_sentence_with_schrieb_is_not_a_header():
    text = "Am Freitag schrieb ich Ihnen: bitte antworten.\nDanke"
    assert split_reply(text) == (text, "")


@pytest.mark.parametrize("text", ["> only\n> quoted text", "Sent from my iPhone", "-- \nrick", "\n\n   \n"])
def test_visible_reply_is_never_empty_when_there_is_text(text):
    visible, _ = split_reply(text)
    assert visible == text.strip()


def test_crlf_and_empty_input():
    assert split_reply("") == ("", "")
    assert split_reply(None) == ("", "")
    assert split_reply("Yes please.\r\n\r\nOn Mon, Jan 1, 2024 at 9:00 AM Desk <d@example.com> wrote:\r\n> Shall we?")[
        0] == "Yes please."
