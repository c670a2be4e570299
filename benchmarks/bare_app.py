"""Baseline for the web benchmark: a bare Flask route rendering a template with N plain inputs."""

from __future__ import annotations

import os

from flask import Flask, render_template_string

INPUTS = int(os.environ.get("BARE_INPUTS", "300"))
TEMPLATE = """<!doctype html><html><head><title>bare</title></head><body><form method="post">
{% for i in range(n) %}<fieldset><legend>Question {{ i }}</legend><input name="q{{ i }}" value="{{ i }}"></fieldset>
{% endfor %}<button>Save</button></form></body></html>"""

app = Flask(__name__)


@app.route("/")
def page():
    return render_template_string(TEMPLATE, n=INPUTS)
