"""The chapter page in process: the largest chapter against a bare Jinja template with its inputs.

    python benchmarks/chapter.py [--rounds 40] [--lang en] [--db PATH]

Product: a Flask test-client GET of the chapter page with the most inputs in the questionnaire,
as a logged-in respondent whose current-round response is editable and the most complete in that
chapter (the full-size demo data set, `survey demo`). Baseline: a bare Jinja template (autoescaped,
no Flask, no database, no caching) rendering the same sections, fieldsets, legends, hints, choice
labels, stored values and hidden tokens with minimal markup; its data is prepared once, outside
the timing, so the baseline does only rendering work. A second, informational baseline renders
the same template through a bare Flask route and its test client (request handling included).

Product and baselines are timed interleaved, round after round, in one process; the script
prints min/median/max of each and the ratio of medians, then times autosave posts of one changed
provision. Timings are information, never a test: the script exits 0 unless it crashes.
"""

from __future__ import annotations

import argparse
import gc
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import demo_database, machine, quiesce, wal_bytes  # noqa: E402

INPUT = re.compile(r"<(?:input|textarea|select)\b")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

BARE_TEMPLATE = """<!doctype html><html lang="{{ lang }}"><head><title>bare</title></head><body>
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{{ csrf }}"><button>Log out</button></form>
<form method="post" action="/language"><input type="hidden" name="csrf_token" value="{{ csrf }}"><input type="hidden" name="next" value="/">
<select name="lang">{% for code in languages %}<option value="{{ code }}">{{ code }}</option>{% endfor %}</select><button>Change</button></form>
<form method="post"><input type="hidden" name="csrf_token" value="{{ csrf }}"><input type="hidden" name="_at" value="">
{% for s in sections %}<section id="{{ s.id }}"><h2>{{ s.id }} {{ s.title }}</h2><p>{{ s.reference }} · {{ s.obligation }}</p><p>{{ s.summary }}</p>
{% for o in s.offers %}<p><label>{{ o.article }}</label><select name="source" form="copy-{{ s.id }}-{{ o.article }}">{% for id, label in o.options %}<option value="{{ id }}">{{ id }}: {{ label }}</option>{% endfor %}</select><button form="copy-{{ s.id }}-{{ o.article }}">Copy</button></p>
{% endfor %}<input type="hidden" name="{{ s.id }}.present" value="1">
{% for f in s.fields %}<fieldset{% if not f.shown %} hidden{% endif %}><legend>{{ f.label }}</legend>{% if f.hint %}<p>{{ f.hint }}</p>{% endif %}
{% if f.type == 'text' %}<textarea name="{{ f.name }}">{{ f.value or '' }}</textarea>
{% elif f.type == 'select_multiple' %}<input type="hidden" name="{{ f.name }}" value="">{% for c in f.choices %}<label><input type="checkbox" name="{{ f.name }}" value="{{ c.code }}"{% if f.value and c.code in f.value %} checked{% endif %}> {{ c.label }}</label>{% endfor %}
{% else %}{% for c in f.choices %}<label><input type="radio" name="{{ f.name }}" value="{{ c.code }}"{% if c.code == f.value %} checked{% endif %}> {{ c.label }}</label>{% endfor %}
{% endif %}<input type="hidden" name="{{ f.name }}.v" value="{{ f.token }}"></fieldset>
{% endfor %}<p>{{ s.updated_at }} <a href="/history/{{ s.id }}">History</a></p></section>
{% endfor %}<button>Save</button></form>
{% for s in sections %}{% for o in s.offers %}<form method="post" id="copy-{{ s.id }}-{{ o.article }}" action="/copy/{{ s.id }}" hidden><input type="hidden" name="csrf_token" value="{{ csrf }}"></form>
{% endfor %}{% endfor %}</body></html>"""


def count_inputs(chapter) -> int:
    """Inputs the chapter form holds, from the model alone (to find the heaviest chapter)."""
    total = 0
    for provision in chapter.provisions:
        total += 1  # '<provision>.present'
        for question in provision.questions:
            total += 1  # the hidden token
            if question.type == "text":
                total += 1
            else:
                total += len(question.choices.choices) + (question.type == "select_multiple")
    return total


def largest_chapter(model):
    return max(model.chapters.values(), key=count_inputs)


def pick_respondent(db, chapter, round_id):
    """The demo respondent with an editable response holding the most answers in the chapter."""
    from survey.demo import demo_accounts

    ids = [p.id for p in chapter.provisions]
    marks = ", ".join("?" for _ in ids)
    best = None
    for account in demo_accounts():
        if account["role"] != "respondent":
            continue
        row = db.execute(
            "SELECT r.id, r.status, (SELECT count(*) FROM answers a WHERE a.response_id = r.id"
            f" AND a.provision_id IN ({marks})) FROM responses r WHERE r.round_id = ? AND r.state_iso3 = ?",
            [*ids, round_id, account["state_iso3"]],
        ).fetchone()
        if row is None or row[1] not in ("draft", "returned"):
            continue
        if best is None or row[2] > best[1]:
            best = (account, row[2], row[0])
    if best is None:
        raise SystemExit("no demo respondent has an editable response in the current round")
    return best


def bare_sections(model, chapter, stored, related, lang):
    """Plain data for the bare template: what the page shows, prepared before any timing."""
    from survey.responding import EMPTY, answer_token
    from survey.responding.chapter import offer_groups

    sections = []
    for provision in chapter.provisions:
        answers = stored.get(provision.id, {})
        values = {q: a.value for q, a in answers.items()}
        relevant = {q.name for q in provision.relevant_questions(values)}
        fields = []
        for question in provision.questions:
            stored_answer = answers.get(question.name)
            fields.append(
                {
                    "name": f"{provision.id}.{question.name}",
                    "type": question.type,
                    "label": question.label.get(lang),
                    "hint": question.hint.get(lang) if question.hint else None,
                    "shown": question.name in relevant,
                    "value": values.get(question.name),
                    "token": answer_token(stored_answer.value) if stored_answer else EMPTY,
                    "choices": [
                        {"code": c.name, "label": c.label.get(lang)}
                        for c in (question.choices.choices if question.choices else ())
                    ],
                }
            )
        sections.append(
            {
                "id": provision.id,
                "title": provision.title,
                "reference": provision.reference,
                "obligation": provision.obligation,
                "summary": provision.summary.get(lang),
                "fields": fields,
                "updated_at": max((a.updated_at for a in answers.values()), default=""),
                "offers": [
                    {
                        "article": group.article,
                        "options": [
                            (r.id, r.question("compliance").choices.label(code, lang))
                            for r, code in group.sources
                        ],
                    }
                    for group in offer_groups(model, provision, related)
                ],
            }
        )
    return sections


def login(client, email, password):
    page = client.get("/login").get_data(as_text=True)
    token = CSRF.search(page).group(1)
    done = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    if done.status_code != 302:
        raise SystemExit(f"login as {email} failed ({done.status_code})")


def stats(times):
    return {
        "min": min(times),
        "median": statistics.median(times),
        "max": max(times),
        "runs": len(times),
    }


def ms(s):
    return f"median {s['median'] * 1000:.2f} ms (min {s['min'] * 1000:.2f}, max {s['max'] * 1000:.2f}, n={s['runs']})"


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=40, help="interleaved rounds (default 40)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    parser.add_argument("--saves", type=int, default=40, help="autosave posts to time")
    parser.add_argument("--cold", type=int, default=5, help="GETs with the caches emptied")
    parser.add_argument("--lang", default="en", help="page language (default en)")
    parser.add_argument("--db", type=Path, help="an existing demo database (copied, not changed)")
    args = parser.parse_args()
    facts = machine()
    print(
        f"Python {platform.python_version()} ({sys.executable}), {facts['cores']} CPUs ({facts['cpu']}),"
        f" {facts['os']}; flask {facts['flask']}, sqlite {facts['sqlite']}; {facts['date']}",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="survey-chapter-"))
    try:
        if args.db:
            db_path = workdir / "survey.db"
            shutil.copy(args.db, db_path)
        else:
            print("Building the full-size demo database...", flush=True)
            db_path = demo_database(workdir)
        measure(
            db_path,
            rounds=args.rounds,
            warmup=args.warmup,
            saves=args.saves,
            cold=args.cold,
            lang=args.lang,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure(db_path, *, rounds=40, warmup=3, saves=40, cold=5, lang="en") -> dict:
    """Time the chapter page against its baselines on a demo database (which it changes: it logs
    in and saves); print the figures and return them (seconds)."""
    from flask import Flask, render_template, template_rendered
    from jinja2 import DictLoader, Environment

    from survey.i18n import LANGUAGES
    from survey.questionnaire import get_questionnaire
    from survey.storage import connect
    from survey.storage.responses import compliance_codes, load_answers
    from survey.storage.rounds import current_round
    from survey.web import create_app, widgets

    workdir = Path(tempfile.mkdtemp(prefix="survey-chapter-"))
    try:
        model = get_questionnaire()
        chapter = largest_chapter(model)
        db = connect(db_path)
        round_id = current_round(db)["id"]
        account, answered, response_id = pick_respondent(db, chapter, round_id)
        db.execute("UPDATE users SET language = ? WHERE email = ?", [lang, account["email"]])
        db.conn.commit()
        stored = load_answers(db, response_id, [p.id for p in chapter.provisions])
        related_ids = {r.id for p in chapter.provisions for r in model.related(p.id)}
        # As the page gets them: {provision_id: compliance code} (survey/web/fill.py).
        related = compliance_codes(db, response_id, related_ids)
        sections = bare_sections(model, chapter, stored, related, lang)
        db.conn.close()

        app = create_app(
            {
                "DATABASE": str(db_path),
                "SECRET_KEY": "benchmark",
                "RATELIMIT_ENABLED": False,
                "INSTANCE_PATH": str(workdir),
            }
        )
        client = app.test_client()
        login(client, account["email"], account["password"])
        # WAL control (benchmarks/NOTES.md): the log is checkpointed and emptied, then one idle
        # connection stays open for the whole timing, as another worker's would on a server, so
        # no request's closing connection checkpoints the log and every GET sees the same state.
        quiesce(db_path)
        holder = connect(db_path, migrate=False)
        holder.execute("SELECT count(*) FROM rounds").fetchone()
        with app.test_request_context():
            from flask import url_for

            url = url_for(
                "fill.chapter",
                round_id=round_id,
                instrument=chapter.instrument,
                chapter_id=chapter.id,
            )

        bare_env = Environment(autoescape=True)
        bare_template = bare_env.from_string(BARE_TEMPLATE)
        csrf_value = "x" * 91  # as long as a Flask-WTF token

        bare_context = {
            "sections": sections,
            "csrf": csrf_value,
            "lang": lang,
            "languages": LANGUAGES,
        }

        def bare():
            return bare_template.render(**bare_context)

        bare_app = Flask("bare")
        bare_app.jinja_loader = DictLoader({"bare.html": BARE_TEMPLATE})

        @bare_app.route("/")
        def bare_page():
            return render_template("bare.html", **bare_context)

        bare_client = bare_app.test_client()

        def product():
            response = client.get(url)
            body = response.get_data()
            if response.status_code != 200:
                raise SystemExit(f"GET {url}: {response.status_code}")
            return body

        def bare_flask():
            return bare_client.get("/").get_data()

        # The chapter template alone, with the context of a real GET (caught through Flask's
        # template_rendered signal): how much of the product's time is rendering.
        rendered = {}

        def keep(sender, template, context, **extra):
            if template.name == "fill/chapter.html":
                rendered.update(context)

        template_rendered.connect(keep, app)
        start = time.perf_counter()
        first = product().decode()
        first_get = time.perf_counter() - start
        template_rendered.disconnect(keep, app)
        template_context = {
            k: v for k, v in rendered.items() if k not in ("g", "request", "session")
        }

        def template_only():
            with app.test_request_context(url):
                return render_template("fill/chapter.html", **template_context)

        page_inputs = len(INPUT.findall(first))
        bare_inputs = len(INPUT.findall(bare()))
        fieldsets = first.count('<fieldset class="question')
        print(
            f"Chapter {chapter.key}: {len(chapter.provisions)} provisions, {fieldsets} questions;"
            f" product page {page_inputs} inputs, {len(first):,} bytes; bare template {bare_inputs} inputs,"
            f" {len(bare()):,} bytes",
            flush=True,
        )
        print(
            f"Respondent {account['email']} (response {response_id}, {answered} answers in the chapter),"
            f" language {lang}; first GET after start-up (templates compiled, caches filled)"
            f" {first_get * 1000:.1f} ms",
            flush=True,
        )

        names = ["product", "bare", "bare_flask", "template"]
        runners = {"product": product, "bare": bare, "bare_flask": bare_flask}
        runners["template"] = template_only
        timings = {name: [] for name in names}
        for round_number in range(warmup + rounds):
            # Rotate the order, so that no series always runs right after the same other one.
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                gc.collect()
                start = time.perf_counter()
                runners[name]()
                elapsed = time.perf_counter() - start
                if round_number >= warmup:
                    timings[name].append(elapsed)
        product_s, bare_s, flask_s, template_s = (stats(timings[k]) for k in names)
        print(f"- product (test-client GET, chapter page): {ms(product_s)}")
        print(f"- bare Jinja template, same inputs:        {ms(bare_s)}")
        print(f"- bare Flask route, same template:         {ms(flask_s)}")
        print(f"- of the product, chapter.html alone:      {ms(template_s)}")
        ratios = sorted(p / b for p, b in zip(timings["product"], timings["bare"], strict=True))
        print(
            f"- RATIO of medians product / bare Jinja: {product_s['median'] / bare_s['median']:.2f}"
            f" (per-round ratios min {ratios[0]:.2f}, median {statistics.median(ratios):.2f}, max {ratios[-1]:.2f});"
            f" product / bare Flask route {product_s['median'] / flask_s['median']:.2f};"
            f" chapter.html alone / bare Jinja {template_s['median'] / bare_s['median']:.2f}",
            flush=True,
        )

        # The same GET with every cached part dropped first (the first view of a chapter in a
        # language after a restart), so the caches' share is on record.
        cold_times = []
        for _ in range(cold):
            widgets.clear_caches()
            gc.collect()
            start = time.perf_counter()
            product()
            cold_times.append(time.perf_counter() - start)
        print(f"- product with the widget caches emptied before each GET: {ms(stats(cold_times))}")

        # One save: an autosave post of one provision with one changed text answer.
        provision = next(p for p in chapter.provisions if p.question("measures") is not None)
        name = f"{provision.id}.measures"
        token = re.search(rf'name="{re.escape(name)}\.v" value="([^"]*)"', first).group(1)
        csrf = CSRF.search(first).group(1)
        save_times = []
        for i in range(saves):
            data = {
                "csrf_token": csrf,
                f"{provision.id}.present": "1",
                name: f"Benchmark text, save {i}.",
                f"{name}.v": token,
            }
            start = time.perf_counter()
            response = client.post(url, data=data, headers={"X-Autosave": "1"})
            save_times.append(time.perf_counter() - start)
            body = response.get_json()
            if response.status_code != 200 or body["saved"] != [name]:
                raise SystemExit(f"save {i}: {response.status_code} {body}")
            token = body["tokens"][f"{name}.v"]
        print(
            f"- one save (autosave POST of {provision.id}, one changed answer): {ms(stats(save_times))}"
        )

        # Progress is kept per response and only changed provisions are recounted; a colleague's save (made
        # here directly in the database, untimed) before each GET makes every GET recount it.
        from survey.responding import save_provision

        other = connect(db_path, migrate=False)
        after_change = []
        for i in range(min(rounds, 20)):
            save_provision(
                other, response_id, provision.id, {"steps": f"Colleague {i}"}, user_id=None
            )
            gc.collect()
            start = time.perf_counter()
            product()
            after_change.append(time.perf_counter() - start)
        other.conn.close()
        print(
            f"- product GET right after a colleague's save (its provision recounted): {ms(stats(after_change))}"
        )
        wal_after = wal_bytes(db_path)
        holder.conn.close()
        print(f"- WAL: 0 bytes before the timing, {wal_after:,} bytes after (one idle reader held)")
        return {
            "chapter": chapter.key,
            "inputs": page_inputs,
            "product": product_s,
            "bare": bare_s,
            "bare_flask": flask_s,
            "template": template_s,
            "ratio": product_s["median"] / bare_s["median"],
            "ratios": ratios,
            "cold": stats(cold_times),
            "after_change": stats(after_change),
            "save": stats(save_times),
            "wal_after": wal_after,
            "questions": fieldsets,
            "provisions": len(chapter.provisions),
            "respondent": account["email"],
            "times": timings,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
