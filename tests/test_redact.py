"""Secrets are masked in every text that leaves the controller."""

from __future__ import annotations

from maintcheck.redact import Redactor, is_secret_name


def test_secret_names() -> None:
    assert is_secret_name("db_password") and is_secret_name("API_TOKEN")
    assert is_secret_name("maintcheck_http_password") and is_secret_name("aws_secret")
    assert is_secret_name("release", ["release"])
    assert not is_secret_name("ansible_ssh_private_key_file")
    assert not is_secret_name("maintcheck_disk_max_percent")


def test_learned_values_urls_and_headers_are_masked() -> None:
    r = Redactor()
    r.learn({"db_password": "hunter22", "nested": {"x": 1}, "maintcheck_http_token": "tok-9"})
    r.learn({"release": "v1"}, ["release"])  # too short to mask safely
    text = ("login hunter22 to https://u:pa55word@app.example/ with "
            "Authorization: Bearer abc.def-123 and tok-9")
    out = r.text(text)
    assert "hunter22" not in out and "pa55word" not in out and "abc.def-123" not in out
    assert "tok-9" not in out and out.count("***") == 4


def test_values_inside_structures() -> None:
    r = Redactor({"s3cr3t"})
    assert r.value({"a": ["x s3cr3t y"], "b": 2}) == {"a": ["x *** y"], "b": 2}
