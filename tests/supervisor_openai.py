"""The official OpenAI Python client against claude-supervisord's /v1/chat/completions over
TCP (run by tests/supervisor_openai.rs; BASE_URL and TOKEN come from it)."""
import os

import openai

base = os.environ["BASE_URL"] + "/v1"
client = openai.OpenAI(base_url=base, api_key=os.environ["TOKEN"], max_retries=0, timeout=120)


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


# Non-streamed; the session is named by `user`.
r = client.chat.completions.create(model="claude-code", messages=[user("first question")], user="oa")
first = r.choices[0].message.content
assert first == "answer: first question", r
assert r.object == "chat.completion" and r.choices[0].finish_reason == "stop", r
assert r.usage.completion_tokens > 0 and r.usage.total_tokens >= r.usage.prompt_tokens, r.usage

# The same session continued with the whole history, as OpenAI clients send it.
r = client.chat.completions.create(
    model="claude-code",
    messages=[user("first question"), assistant(first), user("second question")],
    user="oa",
)
assert r.choices[0].message.content == "answer: second question", r

# Streamed, the session named by the header; usage in the last chunk.
chunks = list(
    client.chat.completions.create(
        model="claude-code",
        messages=[user("third question")],
        stream=True,
        extra_headers={"X-Session-Key": "oa"},
    )
)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
assert text == "answer: third question", chunks
assert all(c.object == "chat.completion.chunk" for c in chunks)
assert chunks[-1].choices[0].finish_reason == "stop", chunks[-1]
assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0, chunks[-1]

# A history that disagrees with the session's: 409, parsed as an APIError.
try:
    client.chat.completions.create(
        model="claude-code",
        messages=[user("something else"), assistant("never said"), user("go on")],
        user="oa",
    )
    raise SystemExit("a conflicting history was accepted")
except openai.APIStatusError as e:
    assert isinstance(e, openai.APIError)
    assert e.status_code == 409, e
    assert e.code == "conflict", e.body

# ... unless it asks for a fresh session.
r = client.chat.completions.create(
    model="claude-code",
    messages=[user("something else"), assistant("never said"), user("go on")],
    user="oa",
    extra_body={"fresh": True},
)
assert "go on" in r.choices[0].message.content, r

# A bad request: the last message is not the user's.
try:
    client.chat.completions.create(model="claude-code", messages=[assistant("hi")])
    raise SystemExit("a request without a user message was accepted")
except openai.BadRequestError as e:
    assert e.status_code == 400 and e.param == "messages", e.body

# No session named: an ephemeral one.
r = client.chat.completions.create(model="claude-code", messages=[user("just once")])
assert r.choices[0].message.content == "answer: just once", r

# An image, as OpenAI clients send one (a data: URL).
png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
r = client.chat.completions.create(
    model="claude-code",
    messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is in the picture"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + png}},
    ]}],
)
# (Claude Code adds a text block naming the image after it; the mock answers the last one.)
assert r.choices[0].message.content.startswith("answer: "), r

# Models: the session keys and the default.
ids = [m.id for m in client.models.list()]
assert "oa" in ids and "claude-code" in ids, ids

# A wrong token is refused.
bad = openai.OpenAI(base_url=base, api_key="not-the-token", max_retries=0)
try:
    bad.chat.completions.create(model="claude-code", messages=[user("hi")], user="oa")
    raise SystemExit("a wrong token was accepted")
except openai.AuthenticationError as e:
    assert e.status_code == 401, e

print("ok")
