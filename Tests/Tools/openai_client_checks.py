#!/usr/bin/env python3
"""Drives `tpu-llm-engine serve` with the real `openai` client (and httpx, its transport, where the client hides
what a check needs), as the applications that use the engine do. One check per run:

    openai_client_checks.py CHECK --port P [--key K]

Each check asserts what a client would see and prints a JSON summary on stdout for the Swift test; a failed
assertion exits 1 with the reason on stderr. Used by Tests/EngineTests/EngineOpenAIClientTests.swift."""

import argparse
import json
import os
import socket
import subprocess
import sys
import threading

import openai

try:
    import httpx
except ImportError:  # recent openai releases ship their transport as httpx2, the same API
    import httpx2 as httpx


def client(args, **options):
    return openai.OpenAI(base_url=f"http://127.0.0.1:{args.port}/v1", api_key=args.key or "unused", **options)


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def error_of(call):
    """The openai exception a call raises, or an AssertionError when it succeeds."""
    try:
        call()
    except openai.APIStatusError as error:
        return error
    raise AssertionError("the request succeeded; a refusal was expected")


def error_object(error):
    """OpenAI's error object, checked for its four fields."""
    body = error.response.json()
    expect("error" in body, f"no 'error' object: {body}")
    fields = body["error"]
    for name in ("message", "type", "param", "code"):
        expect(name in fields, f"the error has no '{name}': {fields}")
    return fields


def answer(api, messages, stream=False, **options):
    """The text of a greedy answer, streamed or not."""
    options.setdefault("temperature", 0)
    options.setdefault("max_tokens", 12)
    if not stream:
        return api.chat.completions.create(model="x", messages=messages, **options).choices[0].message.content
    text = ""
    for chunk in api.chat.completions.create(model="x", messages=messages, stream=True, **options):
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
    return text


# ---------------------------------------------------------------------------------------------------------------
def check_load(args):
    """20 concurrent streaming requests all succeed (the SDK's own retries allowed); /health answers during the
    burst; a streaming request that has to wait receives `: waiting` comments before its first data."""
    api = client(args, max_retries=2, timeout=120)
    results, failures = [None] * 20, []
    finished = threading.Event()
    done_count = [0]
    lock = threading.Lock()

    def one(index):
        try:
            text = ""
            stream = api.chat.completions.create(model="x", stream=True, temperature=0, max_tokens=args.tokens,
                                                 messages=[{"role": "user", "content": f"Hello {index}"}])
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
            results[index] = text
        except Exception as error:  # noqa: BLE001 - every failure is reported
            failures.append(f"request {index}: {type(error).__name__}: {error}")
        with lock:
            done_count[0] += 1
            if done_count[0] == 20:
                finished.set()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()

    # A raw stream joins the queue behind the 20 (once they are queued): it must see comments before data.
    depth = 0
    for _ in range(600):
        metrics = httpx.get(f"http://127.0.0.1:{args.port}/metrics", timeout=60).text
        depth = next(float(line.split()[1]) for line in metrics.splitlines()
                     if line.startswith("tpu_engine_queue_depth "))
        if depth >= 5 or finished.is_set():
            break
        threading.Event().wait(0.05)
    expect(depth >= 5, f"the burst never queued: depth {depth}")
    lines = []
    with httpx.stream("POST", f"http://127.0.0.1:{args.port}/v1/chat/completions", timeout=120,
                      json={"messages": [{"role": "user", "content": "Hi"}], "stream": True, "max_tokens": 2}) as r:
        expect(r.status_code == 200, f"the waiting stream got {r.status_code}")
        health_during_burst = httpx.get(f"http://127.0.0.1:{args.port}/health", timeout=60).status_code
        burst_running_when_health_answered = not finished.is_set()
        for line in r.iter_lines():
            if line:
                lines.append(line)
    for thread in threads:
        thread.join()

    expect(not failures, "some requests failed:\n" + "\n".join(failures))
    expect(all(text for text in results), "an answer was empty")
    expect(health_during_burst == 200, f"/health answered {health_during_burst} during the burst")
    expect(burst_running_when_health_answered, "/health answered only after the burst had finished")
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data:"))
    expect(any(line.startswith(": waiting") for line in lines[:first_data]),
           f"no ': waiting' comment before the first data: {lines[:3]}")
    expect(lines[-1] == "data: [DONE]", f"the waiting stream did not end with [DONE]: {lines[-2:]}")
    return {"succeeded": sum(1 for text in results if text), "comments": sum(1 for l in lines if l.startswith(":"))}


def check_retry(args):
    """Past the queue (`--queue 0` and a running stream), the SDK's own retry, guided by Retry-After, succeeds."""
    body = json.dumps({"messages": [{"role": "user", "content": "Hello"}], "stream": True, "max_tokens": 20,
                       "temperature": 0}).encode()
    # The running stream on a plain socket, left open and unread after its first piece: the device stays busy.
    with socket.create_connection(("127.0.0.1", args.port), timeout=60) as running:
        running.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                         f"\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        received = b""
        while b'"content":"' not in received.replace(b'"content":""', b""):
            more = running.recv(4096)
            expect(more, "the running stream closed early")
            received += more
        api = client(args, max_retries=6, timeout=60)
        retried = api.chat.completions.with_raw_response.create(
            model="x", messages=[{"role": "user", "content": "Hello"}], max_tokens=2, temperature=0)
    metrics = httpx.get(f"http://127.0.0.1:{args.port}/metrics").text
    refusals = sum(float(line.split()[1]) for line in metrics.splitlines()
                   if line.startswith('tpu_engine_requests_total{code="429"}'))
    expect(retried.http_response.status_code == 200, f"after retries: {retried.http_response.status_code}")
    expect(refusals >= 1, "the first attempt was not refused with 429: nothing was retried")
    return {"refusals": refusals}


# ---------------------------------------------------------------------------------------------------------------
def check_messages(args):
    """Messages as clients send them give the answer of the conversation they mean (greedy, streamed and not)."""
    api = client(args, max_retries=0)
    equivalent = [
        ("two user messages in a row",
         [{"role": "user", "content": "Hello"}, {"role": "user", "content": "there"}],
         [{"role": "user", "content": "Hello\n\nthere"}]),
        ("the developer role",
         [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
         [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]),
        ("a system message not first",
         [{"role": "user", "content": "Hello"}, {"role": "system", "content": "Be brief."}],
         [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]),
        ("an assistant message first",
         [{"role": "assistant", "content": "How can I help?"}, {"role": "user", "content": "Hello"}],
         [{"role": "user", "content": ""}, {"role": "assistant", "content": "How can I help?"},
          {"role": "user", "content": "Hello"}]),
        ("content as a list of text parts",
         [{"role": "user", "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]}],
         [{"role": "user", "content": "Hello"}]),
        ("content null",
         [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": None},
          {"role": "user", "content": "Hello"}],
         [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""},
          {"role": "user", "content": "Hello"}]),
    ]
    checked = []
    for name, sent, meant in equivalent:
        for stream in (False, True):
            got, want = answer(api, sent, stream), answer(api, meant, stream)
            expect(got == want, f"{name} (stream={stream}): {got!r} != {want!r}")
        checked.append(name)

    # An assistant message at the end is a prefill (as llama-server takes it): accepted, and the answer continues
    # it, so it differs from the answer to the question alone. The exact continuation is checked against the
    # reference in QwenSimTests.
    prefill = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Sure"}]
    plain = answer(api, prefill[:1])
    continued = [answer(api, prefill, stream) for stream in (False, True)]
    expect(continued[0] == continued[1], f"prefill: streamed {continued[1]!r} != {continued[0]!r}")
    expect(continued[0] != plain, f"prefill: the answer {continued[0]!r} ignores the prefill")
    checked.append("an assistant prefill")
    return {"equivalent": checked}


# ---------------------------------------------------------------------------------------------------------------
def check_refusals(args):
    """Unsupported fields get an OpenAI-shaped 400; every error has param and code; a context overflow is
    context_length_exceeded and names the message that is too long."""
    api = client(args, max_retries=0)
    hello = [{"role": "user", "content": "Hello"}]
    unsupported = {
        "n": {"n": 2},
        "tools": {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
        "response_format": {"response_format": {"type": "json_object"}},
        "logprobs": {"logprobs": True},
    }
    for field, extra in unsupported.items():
        for stream in (False, True):
            error = error_of(lambda: answer(api, hello, stream, **extra))
            fields = error_object(error)
            expect(isinstance(error, openai.BadRequestError), f"{field}: {type(error).__name__}")
            expect(fields["param"] == field, f"{field}: param is {fields['param']}")
            expect(fields["type"] == "invalid_request_error", f"{field}: type {fields['type']}")
            expect(fields["code"] in ("unsupported_parameter", "unsupported_value"), f"{field}: code {fields['code']}")
            expect(field in fields["message"], f"{field}: {fields['message']}")
    # Accepted, not refused: response_format text, n 1, logprobs false.
    answer(api, hello, response_format={"type": "text"}, n=1, logprobs=False)

    long_text = "hello world " * 200
    overflows = {
        "messages[0]": [{"role": "system", "content": long_text}, {"role": "user", "content": "Hi"}],
        "messages[2]": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                        {"role": "user", "content": long_text}],
    }
    for named, messages in overflows.items():
        for stream in (False, True):
            error = error_of(lambda: answer(api, messages, stream))
            fields = error_object(error)
            expect(error.status_code == 400, f"overflow: {error.status_code}")
            expect(fields["code"] == "context_length_exceeded", f"overflow code: {fields['code']}")
            expect("maximum context length" in fields["message"], f"overflow message: {fields['message']}")
            expect(named in fields["message"], f"overflow should name {named}: {fields['message']}")

    missing = error_of(lambda: api.models.retrieve("no-such-model"))
    fields = error_object(missing)
    expect(missing.status_code == 404 and fields["code"] == "model_not_found", f"models/no-such-model: {fields}")
    bad = error_of(lambda: api.chat.completions.create(model="x", messages=[{"role": "robot", "content": "x"}]))
    fields = error_object(bad)
    expect(fields["param"] == "messages[0].role", f"robot: {fields}")
    return {"refused": list(unsupported)}


# ---------------------------------------------------------------------------------------------------------------
def check_wrong_key(args):
    """Run against an engine started with --api-key: a wrong key is an AuthenticationError saying so; a 401 to a
    POST leaves the keep-alive connection usable (headers and body sent separately on one socket)."""
    wrong = openai.OpenAI(base_url=f"http://127.0.0.1:{args.port}/v1", api_key="wrong", max_retries=0)
    error = error_of(lambda: answer(wrong, [{"role": "user", "content": "Hello"}]))
    fields = error_object(error)
    expect(isinstance(error, openai.AuthenticationError), f"{type(error).__name__}")
    expect("wrong API key" in fields["message"], fields["message"])
    expect(fields["code"] == "invalid_api_key", fields)
    expect(answer(client(args), [{"role": "user", "content": "Hello"}], max_tokens=2) is not None, "right key")

    body = json.dumps({"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 2}).encode()
    statuses = []
    with socket.create_connection(("127.0.0.1", args.port), timeout=60) as connection:
        reader = connection.makefile("rb")
        for key in ("wrong", args.key):
            head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            connection.sendall(head)
            connection.sendall(body)
            status = int(reader.readline().split()[1])
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            reader.read(length)
            statuses.append(status)
    expect(statuses == [401, 200], f"one connection, wrong key then right key: {statuses}")
    return {"statuses": statuses}


# ---------------------------------------------------------------------------------------------------------------
def check_cors(args):
    """A browser's preflight and request from another origin: allowed or not, as `--expect` says."""
    origin = "http://front-end.example:3000"
    url = f"http://127.0.0.1:{args.port}/v1/chat/completions"
    preflight = httpx.request("OPTIONS", url, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    allowed = preflight.headers.get("access-control-allow-origin")
    if args.expect == "allowed":
        expect(preflight.status_code == 204, f"preflight: {preflight.status_code}")
        expect(allowed in ("*", origin), f"allow-origin: {allowed}")
        expect("POST" in preflight.headers.get("access-control-allow-methods", ""), preflight.headers)
        expect("authorization" in preflight.headers.get("access-control-allow-headers", "").lower(), preflight.headers)
        # The request itself, through the openai client with the Origin a browser adds.
        api = client(args, max_retries=0, default_headers={"Origin": origin})
        raw = api.chat.completions.with_raw_response.create(
            model="x", messages=[{"role": "user", "content": "Hello"}], max_tokens=2)
        expect(raw.headers.get("access-control-allow-origin") in ("*", origin), raw.headers)
    else:
        expect(allowed is None, f"cross-origin allowed without a key: {allowed}")
        expect(preflight.status_code == 403, f"preflight: {preflight.status_code}")
        expect("--cors-origin" in preflight.json()["error"]["message"], preflight.text)
    return {"preflight": preflight.status_code, "allow_origin": allowed}


# ---------------------------------------------------------------------------------------------------------------
def check_endpoints(args):
    """Legacy completions (streamed and not), /v1/models/{id} with `created`, and the sampling defaults."""
    api = client(args, max_retries=0)
    models = api.models.list().data
    expect(len(models) == 1 and models[0].created > 0, f"models: {models}")
    model = api.models.retrieve(models[0].id)
    expect(model.id == models[0].id and model.created == models[0].created, f"retrieve: {model}")

    prompt = "Once upon a time"
    whole = api.completions.create(model=model.id, prompt=prompt, max_tokens=8, temperature=0)
    expect(whole.object == "text_completion" and whole.choices[0].text, f"completion: {whole}")
    streamed = "".join(chunk.choices[0].text for chunk in
                       api.completions.create(model=model.id, prompt=prompt, max_tokens=8, temperature=0, stream=True)
                       if chunk.choices)
    expect(streamed == whole.choices[0].text, f"stream {streamed!r} != {whole.choices[0].text!r}")
    echoed = api.completions.create(model=model.id, prompt=prompt, max_tokens=8, temperature=0, echo=True)
    expect(echoed.choices[0].text == prompt + whole.choices[0].text, f"echo: {echoed.choices[0].text!r}")
    default_length = api.completions.create(model=model.id, prompt=prompt, temperature=0)
    expect(default_length.usage.completion_tokens <= 16, f"legacy default max_tokens: {default_length.usage}")

    hello = [{"role": "user", "content": "Hello"}]
    greedy = answer(api, hello, max_tokens=10)
    expect(answer(api, hello, max_tokens=10, temperature=0.7, top_p=0) == greedy, "top_p 0 is not greedy")
    float_tokens = api.chat.completions.create(model="x", messages=hello, temperature=0,
                                               extra_body={"max_tokens": 16.0})
    expect(float_tokens.usage.completion_tokens <= 16, f"max_tokens 16.0: {float_tokens.usage}")
    # Absent temperature and top_p are llama-server's 0.8 and 0.95: the same seed gives the same answer.
    defaults = api.chat.completions.create(model="x", messages=hello, max_tokens=10, seed=7)
    explicit = api.chat.completions.create(model="x", messages=hello, max_tokens=10, seed=7, temperature=0.8,
                                           top_p=0.95)
    expect(defaults.choices[0].message.content == explicit.choices[0].message.content,
           f"defaults {defaults.choices[0].message.content!r} != explicit {explicit.choices[0].message.content!r}")
    return {"completion": whole.choices[0].text, "prompt_tokens": whole.usage.prompt_tokens,
            "completion_tokens": whole.usage.completion_tokens}


def check_loading(args):
    """While the model loads, /v1/models is a 503 the client sees as InternalServerError, with Retry-After."""
    api = client(args, max_retries=0)
    error = error_of(lambda: api.models.list())
    fields = error_object(error)
    expect(error.status_code == 503 and fields["code"] == "model_loading", f"loading: {error.status_code} {fields}")
    expect(error.response.headers.get("retry-after"), "no Retry-After")
    return {"status": error.status_code}


# ---------------------------------------------------------------------------------------------------------------
def check_metrics(args):
    """/metrics parses as Prometheus' text format; the latency histograms are consistent."""
    from prometheus_client.parser import text_string_to_metric_families

    api = client(args, max_retries=0)
    for stream in (False, True):
        answer(api, [{"role": "user", "content": "Hello"}], stream, max_tokens=4)
    text = httpx.get(f"http://127.0.0.1:{args.port}/metrics",
                     headers={"Authorization": f"Bearer {args.key}"} if args.key else {}).text
    # Prometheus' own linter, as the issue asks: promtool from Debian's prometheus package (make promtool extracts
    # the binary only, so no server is installed or started). Its findings (e.g. a counter without _total) fail.
    repository = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    promtool = os.environ.get("TPUDEPLOY_PROMTOOL", os.path.join(repository, "build/promtool/usr/bin/promtool"))
    expect(os.access(promtool, os.X_OK), f"promtool not found at {promtool}: run make promtool")
    lint = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    expect(lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(),
           f"promtool check metrics: {lint.returncode} {lint.stdout.decode()} {lint.stderr.decode()}")
    families = {family.name: family for family in text_string_to_metric_families(text)}
    summary = {}
    for name in ("tpu_engine_queue_wait_seconds", "tpu_engine_time_to_first_token_seconds",
                 "tpu_engine_time_per_output_token_seconds"):
        expect(name in families and families[name].type == "histogram", f"{name}: {families.get(name)}")
        samples = families[name].samples
        buckets = [s for s in samples if s.name == name + "_bucket"]
        count = next(s.value for s in samples if s.name == name + "_count")
        total = next(s.value for s in samples if s.name == name + "_sum")
        values = [s.value for s in buckets]
        expect(values == sorted(values), f"{name}: buckets not cumulative {values}")
        expect(buckets[-1].labels["le"] == "+Inf" and values[-1] == count, f"{name}: +Inf {values[-1]} != {count}")
        # One observation per generation; the per-token one only for answers longer than a token.
        expect(count == 2 or (name.endswith("per_output_token_seconds") and count <= 2),
               f"{name}: {count} observations for 2 generations")
        summary[name] = total
    expect(summary["tpu_engine_time_to_first_token_seconds"] >= summary["tpu_engine_queue_wait_seconds"],
           "time to first token does not include the queue wait")
    return summary


CHECKS = {name[len("check_"):]: function for name, function in globals().items() if name.startswith("check_")}

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("check", choices=sorted(CHECKS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", default="")
    parser.add_argument("--tokens", type=int, default=4)
    parser.add_argument("--expect", default="allowed")
    options = parser.parse_args()
    try:
        print(json.dumps(CHECKS[options.check](options)))
    except AssertionError as failure:
        print(f"{options.check}: {failure}", file=sys.stderr)
        sys.exit(1)
