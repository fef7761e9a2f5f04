import pytest

from keymanager.services.headers import (
    RateLimitMessage,
    parse_go_duration,
    parse_rate_limit_headers,
    parse_rate_limit_message,
    retry_after_from_message,
)


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("2m59.56s", 179.56),
        ("6s", 6.0),
        ("400ms", 0.4),
        ("7.66s", 7.66),
        ("1h2m3.5s", 3723.5),
        ("0s", 0.0),
        ("250us", 0.00025),
    ],
)
def test_it_parses_go_durations(text, seconds):
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", None, "soon", "5", "5x", "1m-3s", "s"])
def test_it_rejects_what_is_not_a_go_duration(text):
    assert parse_go_duration(text) is None


def test_it_reads_groq_rate_limit_headers():
    headers = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-requests": "1000",
            "x-ratelimit-remaining-requests": "998",
            "x-ratelimit-reset-requests": "2m52.8s",
            "x-ratelimit-limit-tokens": "8000",
            "x-ratelimit-remaining-tokens": "7412",
            "x-ratelimit-reset-tokens": "4.41s",
            "retry-after": "3",
        }
    )
    assert (headers.limit_requests, headers.remaining_requests) == (1000, 998)
    assert headers.reset_requests == pytest.approx(172.8)
    assert (headers.limit_tokens, headers.remaining_tokens) == (8000, 7412)
    assert headers.reset_tokens == pytest.approx(4.41)
    assert headers.retry_after == 3.0
    assert headers.present


def test_it_survives_garbage_headers():
    headers = parse_rate_limit_headers({"x-ratelimit-remaining-tokens": "lots", "retry-after": "Wed, 21 Oct"})
    assert headers.remaining_tokens is None and headers.retry_after is None and not headers.present


def test_it_reads_the_429_message():
    message = (
        "Rate limit reached for model `openai/gpt-oss-20b` in organization `org_x` service tier `on_demand` "
        "on tokens per day (TPD): Limit 200000, Used 199900, Requested 800. Please try again in 1h2m3.5s. Need more?"
    )
    said = parse_rate_limit_message(message)
    assert (said.organization, said.kind, said.limit, said.used, said.requested) == ("org_x", "tpd", 200000, 199900, 800)
    assert said.try_again == pytest.approx(3723.5)
    assert retry_after_from_message(message) == pytest.approx(3723.5)
    assert retry_after_from_message("nothing here") is None
    assert parse_rate_limit_message("Rate limit reached") == RateLimitMessage()
