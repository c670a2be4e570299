"""Floors for the web benchmark: a bare Flask app on the same gunicorn settings as `survey serve`.

- GET /: the bare Jinja template of benchmarks/chapter.py (same sections, fieldsets, labels,
  choices, stored values and tokens as the chapter page) rendered with a context prepared once
  (BARE_CONTEXT, a JSON file written by run.py from the same chapter and response).
- POST /save: the same write as an autosave of one text answer, the simplest way: one connection
  per request (as the product), BEGIN IMMEDIATE, read the old value, upsert the answer, append one
  history row, COMMIT (BARE_DATABASE, a copy of the same database; BARE_RESPONSE_ID).
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from chapter import BARE_TEMPLATE
from flask import Flask, jsonify, render_template, request
from jinja2 import DictLoader

CONTEXT = json.loads(Path(os.environ["BARE_CONTEXT"]).read_text(encoding="utf-8"))
DATABASE = os.environ.get("BARE_DATABASE")
RESPONSE_ID = int(os.environ.get("BARE_RESPONSE_ID", "0"))

app = Flask(__name__)
app.jinja_loader = DictLoader({"bare.html": BARE_TEMPLATE})


@app.route("/")
def page():
    return render_template("bare.html", **CONTEXT)


@app.post("/save")
def save():
    conn = sqlite3.connect(DATABASE, isolation_level=None, timeout=30)
    conn.execute("PRAGMA synchronous = NORMAL")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    saved = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        for key, text in request.form.items():
            if "." not in key or key.endswith((".present", ".v")):
                continue
            provision, question = key.split(".", 1)
            value = json.dumps(text, ensure_ascii=False)
            old = conn.execute(
                "SELECT value FROM answers WHERE response_id = ? AND provision_id = ? AND question = ?",
                [RESPONSE_ID, provision, question],
            ).fetchone()
            conn.execute(
                "INSERT INTO answers (response_id, provision_id, question, value, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (response_id, provision_id, question)"
                " DO UPDATE SET value = excluded.value, version = version + 1,"
                " updated_at = excluded.updated_at",
                [RESPONSE_ID, provision, question, value, now],
            )
            conn.execute(
                "INSERT INTO answer_history (response_id, provision_id, question, old_value,"
                " new_value, changed_at, source) VALUES (?, ?, ?, ?, ?, ?, 'web')",
                [RESPONSE_ID, provision, question, old[0] if old else None, value, now],
            )
            saved.append(key)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return jsonify({"saved": saved})
