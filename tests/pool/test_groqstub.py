"""The Groq stand-in server, driven through the real groq and openai SDKs over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import groq
import openai
import pytest

from keymanager.testing.groqstub import GroqStub, go_duration, make_key, prompt_tokens

MODEL = "openai/gpt-oss-20b"
KEY_A = make_key()
KEY_A2 = make_key()
KEY_B = make_key()
MSG = [{"role": "user", "content": "Tell me about the Moon."}]


def make_stub(limits: dict | None = None, **kwargs) -> GroqStub:
    orgs = {
        "org_a": {"keys": [KEY_A, KEY_A2], "limits": {MODEL: limits} if limits else {}},
        "org_b": {"keys": [KEY_B]},
    }
    return GroqStub(orgs=orgs, seed=7, **kwargs).start()


def client(stub: GroqStub, key: str = KEY_A, **kwargs) -> groq.Groq:
    return groq.Groq(api_key=key, base_url=stub.url, max_retries=0, **kwargs)


def ask(c: groq.Groq, **kwargs):
    return c.chat.completions.create(**{"model": MODEL, "messages": MSG, **kwargs})


def control(stub: GroqStub, action: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{stub.url}/_stub/{action}", data=data, method="GET" if data is None else "POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_it_serves_a_completion_with_usage_and_headers():
    with make_stub() as stub:
        raw = client(stub).chat.completions.with_raw_response.create(model=MODEL, messages=MSG, max_tokens=200)
        completion = raw.parse()
        h = raw.headers
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.choices[0].message.role == "assistant" and completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.service_tier == "on_demand" and completion.x_groq.id == h["x-request-id"]
    usage = completion.usage
    assert usage.prompt_tokens == prompt_tokens(MSG) == 6 + 4
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.total_time is not None and usage.queue_time is not None
    assert h["x-ratelimit-limit-requests"] == "1000" and h["x-ratelimit-remaining-requests"] == "999"
    assert h["x-ratelimit-limit-tokens"] == "8000"
    assert int(h["x-ratelimit-remaining-tokens"]) == 8000 - usage.total_tokens  # reservation settled
    assert h["x-ratelimit-reset-requests"].endswith("s") and h["x-ratelimit-reset-tokens"].endswith("s")


def test_it_speaks_openai_sdk_on_both_flavors():
    with make_stub() as stub:
        c = openai.OpenAI(api_key=KEY_A, base_url=stub.url + "/openai/v1", max_retries=0)
        assert c.chat.completions.create(model=MODEL, messages=MSG).choices[0].message.content
        assert MODEL in [m.id for m in c.models.list().data]
    sk = make_key("openai")
    assert sk.startswith("sk-proj-") and len(sk) == 8 + 48
    with GroqStub(orgs={"o": {"keys": [sk]}}, flavor="openai") as stub:
        assert stub.openai_base_url == stub.url + "/v1"
        c = openai.OpenAI(api_key=sk, base_url=stub.openai_base_url, max_retries=0)
        assert c.chat.completions.create(model=MODEL, messages=MSG).usage.total_tokens > 0
        with pytest.raises(openai.AuthenticationError) as exc:
            openai.OpenAI(api_key="sk-nope", base_url=stub.openai_base_url, max_retries=0).models.list()
        assert exc.value.code == "invalid_api_key"


def test_it_returns_a_quest_in_json_mode():
    with make_stub() as stub:
        c = client(stub)
        msgs = [{"role": "user", "content": "Write a space quest with 3 questions as JSON."}]
        quest = json.loads(ask(c, messages=msgs, response_format={"type": "json_object"}).choices[0].message.content)
        plain = json.loads(ask(c, response_format={"type": "json_object"}).choices[0].message.content)
    assert isinstance(quest["title"], str) and quest["briefing"].count(".") >= 2
    assert len(quest["questions"]) == 3
    for q in quest["questions"]:
        assert len(q["options"]) == 4 and len(set(q["options"])) == 4
        assert q["answer"] in range(4) and q["prompt"] and q["explanation"]
    assert set(plain) == {"reply"}


def test_it_streams_chunks_ending_with_usage():
    with make_stub() as stub:
        chunks = list(ask(client(stub), stream=True))
    assert all(ch.object == "chat.completion.chunk" for ch in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks)
    assert text and chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].x_groq.usage.completion_tokens == -(-len(text) // 4)


def test_it_rejects_unknown_and_revoked_keys_without_ratelimit_headers():
    with make_stub() as stub:
        with pytest.raises(groq.AuthenticationError) as exc:
            ask(client(stub, key=make_key()))
        assert exc.value.body["error"]["code"] == "invalid_api_key"
        assert exc.value.body["error"]["message"] == "Invalid API Key"
        assert not [h for h in exc.value.response.headers if h.startswith("x-ratelimit")]
        ask(client(stub, key=KEY_A2))
        stub.revoke(KEY_A2)
        with pytest.raises(groq.AuthenticationError):
            ask(client(stub, key=KEY_A2))
        with pytest.raises(groq.AuthenticationError):
            client(stub, key=KEY_A2).models.list()
        ask(client(stub, key=KEY_A))  # the organization's other key still works
        stub.add_key("org_a", KEY_A2)
        ask(client(stub, key=KEY_A2))


def test_it_answers_429_when_rpm_is_used_up_and_frees_the_window():
    with make_stub({"rpm": 2}, window_seconds=1.0) as stub:
        c = client(stub)
        ask(c)
        ask(client(stub, key=KEY_A2))  # same organization: same budget
        with pytest.raises(groq.RateLimitError) as exc:
            ask(c)
        ask(client(stub, key=KEY_B))  # another organization is unaffected
        err, headers = exc.value.body["error"], exc.value.response.headers
        assert err["type"] == "requests" and err["code"] == "rate_limit_exceeded"
        assert "in organization `org_a` service tier `on_demand` on requests per minute (RPM): " in err["message"]
        assert "Limit 2, Used 2, Requested 1. Please try again in " in err["message"]
        assert headers["retry-after"] == "1" and headers["x-ratelimit-remaining-requests"] == "998"
        time.sleep(float(headers["retry-after"]) + 0.05)
        ask(c)
        st = stub.stats()["by_org"]["org_a"][MODEL]
    assert st["admitted"] == 3 and st["rate_limited"] == 1 and st["max_rpm_seen"] == 2


def test_it_answers_429_tokens_when_tpm_is_used_up():
    with make_stub({"tpm": 2000}) as stub:
        c = client(stub)
        stub.enqueue({"content": "x" * 6000})  # 1500 completion tokens
        assert ask(c, max_completion_tokens=1800).usage.total_tokens == 1500 + 10
        with pytest.raises(groq.RateLimitError) as exc:
            ask(c, max_completion_tokens=1800)
    err = exc.value.body["error"]
    assert err["type"] == "tokens" and "tokens per minute (TPM): Limit 2000, Used 1510, Requested 1810" in err["message"]
    assert 55 <= int(exc.value.response.headers["retry-after"]) <= 60
    assert exc.value.response.headers["x-ratelimit-remaining-tokens"] == "490"


def test_it_answers_429_rpd_with_a_long_retry_after():
    with make_stub({"rpd": 1}, window_seconds=1.0, day_seconds=100.0) as stub:
        ask(client(stub))
        with pytest.raises(groq.RateLimitError) as exc:
            ask(client(stub))
    assert "requests per day (RPD): Limit 1, Used 1" in exc.value.body["error"]["message"]
    assert int(exc.value.response.headers["retry-after"]) in (99, 100)
    assert exc.value.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_it_answers_413_for_a_request_larger_than_tpm():
    with make_stub({"tpm": 1000}) as stub:
        with pytest.raises(groq.APIStatusError) as exc:
            ask(client(stub), max_tokens=1000)
    assert exc.value.status_code == 413
    assert exc.value.body["error"]["type"] == "tokens" and exc.value.body["error"]["code"] == "request_too_large"


def test_it_rejects_bad_decommissioned_and_unknown_models():
    with make_stub() as stub:
        c = client(stub)
        with pytest.raises(groq.BadRequestError) as exc:
            ask(c, model="llama3-70b-8192")
        assert exc.value.body["error"]["code"] == "model_decommissioned"
        assert exc.value.body["error"]["message"].startswith("The model `llama3-70b-8192` has been decommissioned")
        with pytest.raises(groq.NotFoundError) as exc:
            ask(c, model="no-such-model")
        assert exc.value.body["error"]["code"] == "model_not_found"
        with pytest.raises(groq.NotFoundError):
            c.models.retrieve("no/such-model")
        assert c.models.retrieve(MODEL).id == MODEL  # slash in the id survives URL quoting
        with pytest.raises(groq.BadRequestError) as exc:
            ask(c, messages=[])
        assert exc.value.body["error"]["type"] == "invalid_request_error"


def test_it_blocks_an_organization_at_its_spend_cap():
    with make_stub() as stub:
        stub.block_org("org_a")
        with pytest.raises(groq.BadRequestError) as exc:
            ask(client(stub))
        assert exc.value.body["error"]["code"] == "blocked_api_access"
        ask(client(stub, key=KEY_B))
        stub.block_org("org_a", blocked=False)
        ask(client(stub))


def test_it_injects_errors_resets_and_capacity_without_spending_budget():
    with make_stub() as stub:
        c = client(stub)
        stub.set_faults(error_rate=1.0, error_status=503)
        with pytest.raises(groq.InternalServerError) as exc:
            ask(c)
        assert exc.value.status_code == 503 and exc.value.body["error"]["type"] == "internal_server_error"
        stub.set_faults(reset_rate=1.0)
        with pytest.raises(groq.APIConnectionError) as conn_exc:
            ask(c)
        assert not isinstance(conn_exc.value, groq.APITimeoutError)
        stub.set_faults(capacity_rate=1.0)
        with pytest.raises(groq.APIStatusError) as exc:
            ask(c)
        assert type(exc.value) is groq.APIStatusError and exc.value.status_code == 498
        assert exc.value.body["error"]["code"] == "capacity_exceeded"
        stub.set_faults()
        ask(c)
        st = stub.stats()
    assert st["resets"] == 1 and st["by_status"] == {"503": 1, "498": 1, "200": 1}
    assert st["by_org"]["org_a"][MODEL]["admitted"] == 1


def test_it_injects_slow_replies_that_time_out_the_client():
    with make_stub() as stub:
        stub.set_faults(slow_rate=1.0, slow_seconds=1.0)
        with pytest.raises(groq.APITimeoutError):
            ask(client(stub, timeout=0.2))
        assert stub.stats()["by_org"]["org_a"][MODEL]["admitted"] == 1  # slow requests are admitted


def test_it_plays_scripted_replies_in_order_and_per_key():
    with make_stub() as stub:
        stub.enqueue({"status": 502}, key=KEY_A2)
        stub.enqueue({"content": "Hello there, astronaut."})
        stub.enqueue({"reset": True})
        assert ask(client(stub)).choices[0].message.content == "Hello there, astronaut."
        with pytest.raises(groq.InternalServerError) as exc:
            ask(client(stub, key=KEY_A2))
        assert exc.value.status_code == 502
        with pytest.raises(groq.APIConnectionError):
            ask(client(stub, key=KEY_B))
        stub.enqueue({"status": 429, "body": {"error": {"message": "m", "type": "tokens", "code": "x"}},
                      "headers": {"retry-after": "7"}})
        with pytest.raises(groq.RateLimitError) as exc:
            ask(client(stub))
        assert exc.value.response.headers["retry-after"] == "7" and exc.value.body["error"]["code"] == "x"
        stub.enqueue({"content": "word " * 100})
        done = ask(client(stub), max_tokens=10).choices[0]
    assert done.finish_reason == "length" and len(done.message.content) == 40


def test_it_is_driven_by_the_http_control_api_from_another_thread():
    with make_stub() as stub:
        results: dict = {}

        def drive() -> None:
            control(stub, "faults", {"error_rate": 1.0, "error_status": 500})
            control(stub, "revoke", {"key": KEY_B})
            try:
                control(stub, "faults", {"nope": 1})
            except urllib.error.HTTPError as exc:
                results["bad"] = exc.code

        worker = threading.Thread(target=drive)
        worker.start()
        worker.join()
        assert results["bad"] == 400
        with pytest.raises(groq.InternalServerError):
            ask(client(stub))
        with pytest.raises(groq.AuthenticationError):
            ask(client(stub, key=KEY_B))
        control(stub, "faults", {})
        new_key = make_key()
        control(stub, "add_key", {"org": "org_c", "key": new_key})
        control(stub, "enqueue", {"response": {"content": "scripted"}, "key": new_key})
        assert ask(client(stub, key=new_key)).choices[0].message.content == "scripted"
        control(stub, "block_org", {"org": "org_c"})
        with pytest.raises(groq.BadRequestError):
            ask(client(stub, key=new_key))
        st = control(stub, "stats")
        assert st["requests"] == 4 and st["by_status"]["500"] == 1
        control(stub, "reset_stats", {})
        assert control(stub, "stats")["requests"] == 0


def test_it_never_exposes_full_keys_in_stats():
    with make_stub() as stub:
        ask(client(stub))
        with pytest.raises(groq.AuthenticationError):
            ask(client(stub, key=KEY_A + "x"))
        dumped = json.dumps(stub.stats()) + json.dumps(control(stub, "stats"))
    assert KEY_A not in dumped and KEY_A[:12] not in dumped
    assert KEY_A[-4:] in dumped
    assert KEY_A.startswith("gsk_") and len(KEY_A) == 56


@pytest.mark.slow
def test_it_admits_exactly_the_budget_under_concurrency():
    with make_stub({"rpm": 20}) as stub:
        def one(i: int) -> int:
            try:
                ask(client(stub, key=KEY_A if i % 2 else KEY_A2), max_tokens=50)
                return 200
            except groq.RateLimitError:
                return 429

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(one, range(60)))
        st = stub.stats()
    assert statuses.count(200) == 20 and statuses.count(429) == 40
    assert st["over_budget"] == 0 and st["by_org"]["org_a"][MODEL]["max_rpm_seen"] == 20


def test_it_draws_faults_deterministically_from_the_seed():
    def run() -> list[int]:
        with make_stub() as stub:
            stub.set_faults(error_rate=0.5)
            out = []
            for _ in range(12):
                try:
                    ask(client(stub))
                    out.append(200)
                except groq.InternalServerError:
                    out.append(500)
            return out

    first = run()
    assert first == run() and 200 in first and 500 in first


def test_it_formats_go_durations():
    assert go_duration(0) == "0s"
    assert go_duration(0.4) == "400ms"
    assert go_duration(6) == "6s"
    assert go_duration(7.66) == "7.66s"
    assert go_duration(179.56) == "2m59.56s"
    assert go_duration(3723.5) == "1h2m3.5s"
    assert go_duration(3600) == "1h0m0s"
    assert go_duration(59.999) == "1m0s"
    assert go_duration(0.9999) == "1s"


def test_it_runs_as_a_command():
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "keymanager.testing.groqstub", "--port", "0", "--orgs", "2", "--json"],
        cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        key = info["orgs"]["org_2"][0]
        assert key.startswith("gsk_") and len(key) == 56
        c = groq.Groq(api_key=key, base_url=info["url"], max_retries=0)
        assert c.chat.completions.create(model=MODEL, messages=MSG).choices[0].message.content
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert proc.returncode == 0


def test_its_tokenizer_is_its_own():
    from keymanager.testing.groqstub import text_tokens
    from keymanager.tokens import count_prompt

    # Words by 5 letters, numbers by 3 digits, every other visible character alone.
    assert text_tokens("Saturn's rings, 1234 km!") == 2 + 1 + 1 + 1 + 1 + 2 + 1 + 1
    assert text_tokens("土星の環") == 4
    # Not the pool's tokenizer: for some text the stand-in counts more than the pool does,
    # so the pool must learn from the reply's usage and headers, not from agreeing with it.
    cjk = [{"role": "user", "content": "土星の環は氷でできている" * 20}]
    assert prompt_tokens(cjk) > count_prompt(cjk)


def test_a_token_bucket_lets_a_burst_through_then_refills_steadily():
    with make_stub({"rpm": 4}, window_seconds=2.0, limiter="bucket") as stub:
        c = client(stub)
        for _ in range(4):  # the whole bucket at once
            ask(c)
        with pytest.raises(groq.RateLimitError) as exc:
            ask(c)
        assert "requests per minute (RPM): Limit 4, Used 4, Requested 1" in exc.value.body["error"]["message"]
        assert exc.value.response.headers["retry-after"] == "1"  # one request refills in 0.5 s
        time.sleep(0.55)
        ask(c)  # one more after window/N, not after the whole window
        with pytest.raises(groq.RateLimitError):
            ask(c)
        time.sleep(2.05)
        for _ in range(4):
            ask(c)
        st = stub.stats()["by_org"]["org_a"][MODEL]
    # Over the run a bucket allowed more than 4 in some window of 2 s: up to 2N - 1.
    assert st["admitted"] == 9 and st["rate_limited"] == 2


def test_a_token_bucket_reports_its_level_in_the_headers():
    with make_stub({"tpm": 3000}, window_seconds=60.0, limiter="bucket") as stub:
        c = client(stub)
        raw = c.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, max_completion_tokens=50)
        used = raw.parse().usage.total_tokens
        remaining = int(raw.headers["x-ratelimit-remaining-tokens"])
        assert 3000 - used - 2 <= remaining <= 3000 - used  # refilled a little since
        assert raw.headers["x-ratelimit-limit-tokens"] == "3000"
        from keymanager.services.headers import parse_go_duration

        # Full again when the used tokens have flowed back in: used / (3000 per 60 s).
        assert parse_go_duration(raw.headers["x-ratelimit-reset-tokens"]) == pytest.approx(used / 50, abs=0.1)


def test_an_unknown_limiter_is_refused():
    with pytest.raises(ValueError, match="limiter"):
        GroqStub(limiter="leaky")
