"""The `survey` command: a thin layer over the library (every command is a tested Python call)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .i18n import LANGUAGES
from .questionnaire import check_directory, default_directory, get_questionnaire
from .settings import WORKER_CLASSES, SettingError, setting
from .storage import connect, database_path


def _db_path(ctx: click.Context, _param, value):
    """--db after the subcommand, else --db before it (`survey --db X demo`), else None."""
    before = ctx.find_root().params.get("db_path")
    if value is not None and before is not None and Path(value) != Path(before):
        raise click.UsageError(
            f"--db given twice with different files ({before} before the command, {value} "
            "after it); give it once"
        )
    return value if value is not None else before


DB_HELP = "SQLite database file (default: $SURVEY_DATABASE, else instance/survey.db)."

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    callback=_db_path,
    help=DB_HELP + " May also come before the command: `survey --db FILE demo`.",
)


def open_db(db_path):
    path = database_path(db_path)
    if not path.exists():
        raise click.ClickException(
            f"no database at {path}; run `survey serve` or `survey init` first"
        )
    return connect(path)


class _Main(click.Group):
    """The `survey` group: an unreadable setting or questionnaire is an error message, not a
    traceback (each names the variable, or the file and key)."""

    def invoke(self, ctx):
        from .questionnaire import QuestionnaireError

        try:
            return super().invoke(ctx)
        except SettingError as exc:
            raise click.ClickException(f"unreadable setting: {exc}") from None
        except QuestionnaireError as exc:
            raise click.ClickException(
                f"the questionnaire in {default_directory()} does not load:\n{exc}\n"
                "(`survey questionnaire check` lists every problem; SURVEY_QUESTIONNAIRES "
                "chooses the folder)"
            ) from None


@click.group(cls=_Main)
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None, help=DB_HELP)
@click.version_option(package_name="survey")
def main(db_path):
    """Technical-assistance needs-assessment surveys for UNTOC, its Protocols and UNCAC."""


@main.command()
@db_option
def init(db_path):
    """Create the database, load States and open a default round (serve does this too)."""
    from .setup import prepare

    path = database_path(db_path)
    _db, message = prepare(path)
    click.echo(f"Database ready at {path}")
    if message:
        click.echo(message)


@main.command()
@db_option
@click.option(
    "--host", default=None, help="Address to listen on (default: $SURVEY_HOST, else 127.0.0.1)."
)
@click.option(
    "--port", default=None, type=click.IntRange(1, 65535), help="(default: $SURVEY_PORT, else 5000)"
)
@click.option(
    "--worker-class",
    type=click.Choice(WORKER_CLASSES),
    default=None,
    help="gunicorn workers: gthread (threads per process; measured faster) or sync (one "
    "request at a time per process). Default: $SURVEY_WORKER_CLASS, else gthread.",
)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Worker processes (default: $SURVEY_WORKERS, else 2 x CPUs, at least 2, at most 8).",
)
@click.option(
    "--threads",
    default=None,
    type=click.IntRange(min=1),
    help="Threads per gthread worker (default: $SURVEY_THREADS, else 4).",
)
@click.option(
    "--pid",
    "pid_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write the master's process id to this file, for restart signals ($SURVEY_PID_FILE).",
)
@click.option(
    "--demo", is_flag=True, help="Fill the database with the demo dataset first (if empty)."
)
@click.option(
    "--debug", is_flag=True, help="Flask's development server with reloader (never in production)."
)
def serve(db_path, host, port, worker_class, workers, threads, pid_file, demo, debug):
    """Run the web application on a production WSGI server (gunicorn)."""
    from .setup import prepare
    from .web import create_app
    from .web.server import ServeOptionError, ServeOptions, run_gunicorn

    try:
        options = ServeOptions.resolve(
            host=host,
            port=port,
            worker_class=worker_class,
            workers=workers,
            threads=threads,
            pid_file=pid_file,
        )
    except ServeOptionError as exc:
        raise click.UsageError(str(exc)) from None
    path = database_path(db_path).resolve()
    db, message = prepare(path)
    try:
        if demo:
            from .demo import ensure_demo

            click.echo(ensure_demo(db))
    finally:
        # gunicorn forks its workers from this process: a connection still open here would be
        # shared by every worker, which SQLite documents as a way to corrupt the database.
        # Workers open their own connection per request (survey.web.db).
        db.conn.close()
    if message:
        click.echo(message)
    # The app is built here, once, and inherited by every worker; create_app closes the
    # connection it opens for the migrations.
    app = create_app({"DATABASE": str(path)})
    click.echo(f"Serving on http://{options.host}:{options.port}/ (database {path})")
    worker = _start_export_worker(path) if app.config["EXPORT_JOBS"] == "worker" else None
    try:
        if debug:
            app.run(host=options.host, port=options.port, debug=True)
            return
        run_gunicorn(app, options)
    finally:
        if worker is not None:
            _stop_export_worker(worker)


def _start_export_worker(path: Path):
    """`survey worker` as a child process: it builds exports while the server runs, and is
    stopped with it (and told by the kernel if this process dies without stopping it)."""
    import signal
    import subprocess

    def die_with_parent():  # Linux: SIGTERM to the worker when `survey serve` dies
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    click.echo("Export worker started (builds workbooks in the background)")
    return subprocess.Popen(
        [sys.executable, "-m", "survey.cli", "--db", str(path), "worker"],
        preexec_fn=die_with_parent,  # noqa: PLW1509 - only a prctl call, no locks taken
    )


def _stop_export_worker(worker) -> None:
    import signal
    import subprocess

    if worker.poll() is None:
        worker.send_signal(signal.SIGINT)  # Huey's graceful stop: finish the build in flight
        try:
            worker.wait(setting("GRACEFUL_TIMEOUT"))
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


@main.command()
@db_option
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Exports built at the same time (default: $SURVEY_EXPORT_WORKERS, else 1).",
)
def worker(db_path, workers):
    """Build exports in the background (`survey serve` starts one; run it yourself when the
    web server is started another way). Stops gracefully on SIGINT, at once on SIGTERM."""
    from .exports.jobs import job_queue, jobs_file_for

    path = database_path(db_path).resolve()
    if not path.exists():
        raise click.ClickException(f"no database at {path}; run `survey init` first")
    count = setting("EXPORT_WORKERS", workers)
    click.echo(f"Export worker on {jobs_file_for(path)} ({count} at a time)", err=True)
    job_queue(jobs_file_for(path)).worker(count).run()


# -- questionnaire ---------------------------------------------------------------------------


@main.group()
def questionnaire():
    """Check and list the omnibus questionnaire files."""


@questionnaire.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--languages", is_flag=True, help="Also list missing translations per language.")
def questionnaire_check(directory, languages):
    """Validate the questionnaire files; print every problem (exit 1) and every warning."""
    directory = Path(directory) if directory else default_directory()
    warnings = []
    model, problems = check_directory(directory, warnings)
    if problems:
        for p in problems:
            click.echo(str(p), err=True)
        click.echo(f"{len(problems)} problem(s) in {directory}", err=True)
        sys.exit(1)
    # Warnings do not fail the check: the questionnaire loads, but a reviewer should look again.
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"{model.id} {model.version}: {len(model.provisions)} provisions, all valid")
    if warnings:
        click.echo(f"{len(warnings)} warning(s)")
    _print_counts(model)
    if languages:
        from .i18n_check import report_missing

        ok = report_missing(model, click.echo)
        if not ok:
            sys.exit(1)


def _print_counts(model):
    click.echo(f"{'instrument':<10} {'mandatory':>9} {'consider':>8} {'optional':>8} {'total':>6}")
    for code, row in model.counts().items():
        click.echo(
            f"{code:<10} {row['mandatory']:>9} {row['consider']:>8} {row['optional']:>8} {row['total']:>6}"
        )


@questionnaire.command("show")
@click.option("--instrument", help="Only this instrument (UNTOC, TIP, SOM, FIR, UNCAC).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per provision, for scripts.")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Questionnaire folder.")
@click.option(
    "--order",
    type=click.Choice(["chapter", "treaty"]),
    default="chapter",
    show_default=True,
    help="By questionnaire chapter, or in the order of the articles of each treaty.",
)
def questionnaire_show(instrument, as_json, directory, order):
    """List provisions with their obligation levels, and counts per instrument and chapter."""
    from .questionnaire import QuestionnaireError

    try:
        model = get_questionnaire(directory)
    except QuestionnaireError as exc:
        raise click.ClickException(f"the questionnaire does not validate:\n{exc}") from None
    instruments = model.instruments
    if instrument:
        found = model.instrument(instrument.upper())
        if not found:
            codes = ", ".join(i.code for i in model.instruments)
            raise click.ClickException(f"unknown instrument '{instrument}'; valid: {codes}")
        instruments = (found,)

    def provisions_of(inst):
        if order == "treaty":
            return sorted(inst.provisions, key=lambda p: p.treaty_key)
        return list(inst.provisions)

    if as_json:
        from .questionnaire.export import provision_dict

        rows = [provision_dict(model, p) for inst in instruments for p in provisions_of(inst)]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if order == "treaty":
        for inst in instruments:
            click.echo(f"{inst.code}  {inst.title.en}  ({len(inst.provisions)} provisions)")
            for p in provisions_of(inst):
                click.echo(f"  {p.id:<16} {p.obligation:<9} {p.reference:<24} {p.title}")
        click.echo("")
        _print_counts(model)
        return
    for inst in instruments:
        click.echo(f"{inst.code}  {inst.title.en}  ({len(inst.provisions)} provisions)")
        for chapter in inst.chapters:
            number = f"{chapter.number}. " if chapter.number else ""
            click.echo(f"  {number}{chapter.title.en}  ({len(chapter.provisions)})")
            for p in chapter.provisions:
                click.echo(f"    {p.id:<16} {p.obligation:<9} {p.reference:<24} {p.title}")
    click.echo("")
    _print_counts(model)


# -- rounds ----------------------------------------------------------------------------------


@main.group()
def rounds():
    """Survey rounds."""


@rounds.command("list")
@db_option
@click.option("--json", "as_json", is_flag=True)
def rounds_list(db_path, as_json):
    """List rounds with their questionnaire version and response counts."""
    from .storage.rounds import list_rounds

    rows = list_rounds(open_db(db_path))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(
        f"{'round':<12} {'status':<7} {'questionnaire':<20} {'responses':>9} {'submitted':>9}  title"
    )
    for r in rows:
        q = f"{r['questionnaire_id']} {r['questionnaire_version']}"
        click.echo(
            f"{r['id']:<12} {r['status']:<7} {q:<20} {r['responses']:>9} {r['submitted']:>9}  {r['title']}"
        )


def title_options(command):
    """--title (English) and --title-ar, --title-es, ... for the other languages."""
    from .i18n import DEFAULT, LANGUAGES

    for lang in reversed([lang for lang in LANGUAGES if lang != DEFAULT]):
        command = click.option(
            f"--title-{lang}",
            f"title_{lang}",
            metavar="TEXT",
            help=f"The title in {LANGUAGES[lang]} ({lang}).",
        )(command)
    return click.option(
        "--title", help="The English title, shown in any language that has no title of its own."
    )(command)


def _given_titles(options: dict) -> dict[str, str]:
    """The titles given on the command line, by language."""
    from .storage.rounds import TITLE_COLUMNS

    return {
        lang: options[column]
        for lang, column in TITLE_COLUMNS.items()
        if options.get(column) is not None
    }


@rounds.command("create")
@db_option
@click.argument("round_id")
@title_options
@click.option(
    "--instrument",
    "instruments",
    multiple=True,
    help="Instrument answered (repeatable; default all).",
)
@click.option("--previous", help="The earlier round that States may pre-fill from.")
@click.option("--opens", help="Opening date (YYYY-MM-DD).")
@click.option("--closes", help="Closing date (YYYY-MM-DD).")
def rounds_create(db_path, round_id, instruments, previous, opens, closes, **titles):
    """Open a new round on the current questionnaire.

    Without --title the round is called "Self-assessment round ID", in every language."""
    from .storage.rounds import RoundError, create_round

    try:
        row = create_round(
            open_db(db_path),
            round_id,
            get_questionnaire(),
            titles=_given_titles(titles),
            instruments=list(instruments) or None,
            previous_round=previous,
            opens_on=opens,
            closes_on=closes,
        )
    except RoundError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Round {row['id']} open: {', '.join(row['instruments'])}")


@rounds.command("titles")
@db_option
@click.argument("round_id")
@title_options
def rounds_titles(db_path, round_id, **titles):
    """Show a round's title in each language, or change those given (an empty one, e.g.
    --title-fr "", removes that language's title; the others are kept)."""
    from .i18n import LANGUAGES
    from .storage.rounds import RoundError, get_round, round_titles, set_round_titles

    db = open_db(db_path)
    round_ = get_round(db, round_id)
    if round_ is None:
        raise click.ClickException(f"no round '{round_id}'")
    given = _given_titles(titles)
    if given:
        try:
            round_ = set_round_titles(db, round_id, given)
        except RoundError as exc:
            raise click.ClickException(str(exc)) from None
    stored = round_titles(round_)
    for lang in LANGUAGES:
        click.echo(f"{lang}  {stored.get(lang, '(none: shown in English)')}")


@rounds.command("close")
@db_option
@click.argument("round_id")
def rounds_close(db_path, round_id):
    """Close a round (answers become read-only)."""
    from .storage.rounds import get_round, set_round_status

    db = open_db(db_path)
    if not get_round(db, round_id):
        raise click.ClickException(f"no round '{round_id}'")
    set_round_status(db, round_id, "closed")
    click.echo(f"Round {round_id} closed")


# -- users -----------------------------------------------------------------------------------


@main.group()
def users():
    """User accounts."""


def _base_url(explicit: str | None) -> str:
    return (setting("BASE_URL", explicit) or "http://127.0.0.1:5000").rstrip("/")


@users.command("add")
@db_option
@click.argument("email")
@click.option("--role", type=click.Choice(["respondent", "analyst", "admin"]), required=True)
@click.option("--state", "state_iso3", help="ISO3 code of the respondent's State.")
@click.option("--name")
@click.option("--password", help="Set a password now instead of sending an invitation link.")
@click.option(
    "--base-url",
    default=None,
    help="For the invitation link (default: $SURVEY_BASE_URL, else http://127.0.0.1:5000).",
)
def users_add(db_path, email, role, state_iso3, name, password, base_url):
    """Add a user; prints a one-time invitation link unless --password is given."""
    from .storage.users import UserError, create_invitation, create_user

    db = open_db(db_path)
    try:
        user = create_user(db, email, role, state_iso3=state_iso3, password=password, name=name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    where = f" for {user['state_iso3']}" if user["state_iso3"] else ""
    click.echo(f"Added {role} {user['email']}{where}")
    if password is None:
        token = create_invitation(db, user["id"])
        click.echo(
            f"Invitation link (valid 72 hours, works once): {_base_url(base_url)}/invite/{token}"
        )


@users.command("invite")
@db_option
@click.argument("email")
@click.option(
    "--base-url",
    default=None,
    help="For the invitation link (default: $SURVEY_BASE_URL, else http://127.0.0.1:5000).",
)
def users_invite(db_path, email, base_url):
    """Issue a new one-time link for a user to set a password."""
    from .storage.users import create_invitation, get_user_by_email

    db = open_db(db_path)
    user = get_user_by_email(db, email)
    if not user:
        raise click.ClickException(f"no user '{email}'")
    token = create_invitation(db, user["id"])
    click.echo(
        f"Invitation link (valid 72 hours, works once): {_base_url(base_url)}/invite/{token}"
    )


@users.command("list")
@db_option
def users_list(db_path):
    """List users and roles."""
    from .storage.users import list_users

    for u in list_users(open_db(db_path)):
        state = u["state_iso3"] or ""
        active = "" if u["active"] else " (disabled)"
        click.echo(f"{u['role']:<11} {state:<4} {u['email']}{active}")


@main.command()
@db_option
@click.option("--round", "round_id", required=True, help="Round id (survey rounds list).")
@click.option(
    "--grouping",
    default="un_regional_group",
    show_default=True,
    type=click.Choice(["un_regional_group", "m49_region", "m49_subregion", "global"]),
)
@click.option("--region", help="One region of the grouping (default: all regions; html needs one).")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "html"]), default="json", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    required=True,
    help="File to write ('-' for stdout).",
)
def report(db_path, round_id, grouping, region, fmt, output):
    """Regional priorities as JSON (for scripts) or a standalone HTML report (opens offline)."""
    from .reports import priority_report
    from .scoring import regional_priorities
    from .storage.rounds import get_round
    from .storage.states import regions

    db = open_db(db_path)
    model = get_questionnaire()
    if get_round(db, round_id) is None:
        raise click.ClickException(f"no round '{round_id}'; see `survey rounds list`")
    options = regions(db, grouping)
    if region and region not in options:
        raise click.ClickException(
            f"no region '{region}' in {grouping}; valid: {', '.join(options)}"
        )
    if fmt == "json":
        rows = regional_priorities(db, model, round_id, grouping, region=region)
        text = json.dumps(
            {"round": round_id, "grouping": grouping, "region": region, "priorities": rows},
            indent=2,
        )
    else:
        if not region:
            raise click.ClickException(
                f"--format html needs --region; one of: {', '.join(options)}"
            )
        from .web import create_app
        from .web.reports import standalone_report

        app = create_app({"DATABASE": str(database_path(db_path))})
        with app.test_request_context():
            text = standalone_report(priority_report(db, model, round_id, grouping, region))
    _write(output, text)


def _write(output: str, text: str) -> None:
    if output == "-":
        click.echo(text)
        return
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(text, encoding="utf-8")
    click.echo(f"Wrote {output}", err=True)


# -- exports and imports ---------------------------------------------------------------------


def _export_filters(command):
    """The filters every analyst export takes (survey.exports.rows.make_filters checks them)."""
    options = [
        click.option(
            "--grouping",
            type=click.Choice(["un_regional_group", "m49_region", "m49_subregion", "global"]),
            help="Region grouping (default: every grouping in Priorities and TA demand).",
        ),
        click.option("--region", help="Only the States of this region of --grouping."),
        click.option("--instrument", help="Only this instrument (UNTOC, TIP, SOM, FIR, UNCAC)."),
        click.option(
            "--status",
            "statuses",
            multiple=True,
            type=click.Choice(["draft", "submitted", "returned", "validated"]),
            help="Only responses with this status (repeatable; default: all statuses).",
        ),
        click.option(
            "--lang",
            default="en",
            show_default=True,
            type=click.Choice(list(LANGUAGES)),
            help="Language of the labels (codes stay the same).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _output_option(command):
    return click.option(
        "-o", "--output", type=click.Path(dir_okay=False), required=True, help="File to write."
    )(command)


def _run_export(db_path, write, round_id, output, **kwargs):
    from .exports.rows import ExportError

    db = open_db(db_path)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    try:
        result = write(db, get_questionnaire(), round_id, output, **kwargs)
    except ExportError as exc:
        Path(output).unlink(missing_ok=True)
        raise click.ClickException(str(exc)) from None
    click.echo(f"Wrote {output}", err=True)
    return result


@main.group()
def export():
    """Export a round: analyst workbook, offline questionnaire, CSV or JSON."""


@export.command("xlsx")
@db_option
@click.option("--round", "round_id", required=True, help="Round id (survey rounds list).")
@_export_filters
@_output_option
def export_xlsx(db_path, round_id, grouping, region, instrument, statuses, lang, output):
    """The analyst workbook: About, Codebook, Answers, Wide, Scores, Priorities, TA demand.

    A progress bar on stderr shows the rows written of the rows expected."""
    from .exports.excel import expected_rows, write_workbook
    from .exports.rows import ExportError

    filters = {
        "grouping": grouping,
        "region": region,
        "instrument": instrument,
        "status": list(statuses) or None,
        "lang": lang,
    }
    try:
        total = expected_rows(open_db(db_path), get_questionnaire(), round_id, **filters)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from None
    with click.progressbar(
        length=total, label="Writing the workbook", file=sys.stderr, show_pos=True
    ) as bar:

        def progress(rows: int) -> None:
            bar.update(min(rows, total) - bar.pos)

        counts = _run_export(
            db_path, write_workbook, round_id, output, progress=progress, **filters
        )
    click.echo(", ".join(f"{sheet}: {n} rows" for sheet, n in counts.items()), err=True)


@export.command("offline")
@db_option
@click.option("--state", "iso3", required=True, help="ISO3 code of the State.")
@click.option("--round", "round_id", required=True, help="Round id (survey rounds list).")
@click.option(
    "--lang",
    default="en",
    show_default=True,
    type=click.Choice(list(LANGUAGES)),
    help="Language of the labels (codes stay the same).",
)
@_output_option
def export_offline_command(db_path, iso3, round_id, lang, output):
    """The offline questionnaire of one State, with its current answers filled in."""
    from .exports.offline import export_offline

    def write(db, model, round_id, out, **kwargs):
        return export_offline(db, model, round_id, iso3, out, **kwargs)

    rows = _run_export(db_path, write, round_id, output, lang=lang)
    click.echo(f"{rows} questions for {iso3.upper()}", err=True)


def _answers_export(fmt: str, doc: str):
    """`survey export csv` and `survey export json`: the same rows, two formats."""

    @export.command(fmt, help=doc)
    @db_option
    @click.option("--round", "round_id", required=True, help="Round id (survey rounds list).")
    @_export_filters
    @_output_option
    def command(db_path, round_id, grouping, region, instrument, statuses, lang, output):
        from .exports import tabular

        rows = _run_export(
            db_path,
            getattr(tabular, f"write_{fmt}"),
            round_id,
            output,
            grouping=grouping,
            region=region,
            instrument=instrument,
            status=list(statuses) or None,
            lang=lang,
        )
        click.echo(f"{rows} answer rows", err=True)

    return command


export_csv = _answers_export(
    "csv", "The answers in long format (one row per answer), as in the workbook's Answers sheet."
)
export_json = _answers_export(
    "json", "The answers as JSON: the same rows as the CSV, with the round and filters."
)


@main.group("import")
def import_():
    """Import files filled outside the application."""


@import_.command("offline")
@db_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--state", "iso3", required=True, help="ISO3 code of the State the file is for.")
@click.option("--round", "round_id", required=True, help="Round id (survey rounds list).")
@click.option("--by", "by_email", help="Record the changes as made by this user (email).")
@click.option(
    "--overwrite", is_flag=True, help="Replace answers changed on the web since the download."
)
@click.option(
    "--force", is_flag=True, help="Import even into a submitted response or a closed round."
)
def import_offline_command(db_path, file, iso3, round_id, by_email, overwrite, force):
    """Import a filled offline questionnaire; print every problem and exit 1 if any (nothing saved)."""
    from .exports.offline import OfflineImportError, import_offline
    from .storage.users import get_user_by_email

    db = open_db(db_path)
    user_id = None
    if by_email:
        user = get_user_by_email(db, by_email)
        if user is None:
            raise click.ClickException(f"no user '{by_email}'")
        user_id = user["id"]
    try:
        result = import_offline(
            db,
            get_questionnaire(),
            round_id,
            iso3,
            file,
            user_id=user_id,
            overwrite=overwrite,
            force=force,
        )
    except OfflineImportError as exc:
        for message in exc.messages:
            click.echo(message, err=True)
        click.echo(f"{len(exc.messages)} problem(s) in {file}; nothing was imported.", err=True)
        sys.exit(1)
    click.echo(
        f"Imported {file} for {iso3.upper()}: {result.changed} answer(s) changed in "
        f"{result.provisions} provision(s)."
    )


@main.group()
def tokens():
    """API tokens for analysts' scripts."""


@tokens.command("add")
@db_option
@click.argument("email")
@click.option("--name", default="script", show_default=True)
def tokens_add(db_path, email, name):
    """Create an API token for an analyst or admin (shown once)."""
    from .storage.users import UserError, create_api_token, get_user_by_email

    db = open_db(db_path)
    user = get_user_by_email(db, email)
    if not user:
        raise click.ClickException(f"no user '{email}'")
    try:
        token = create_api_token(db, user["id"], name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(token)
    click.echo("Send it as 'Authorization: Bearer <token>'. It is shown only once.", err=True)


# -- demo, backups, translations ------------------------------------------------------------


@main.command()
@db_option
@click.option("--seed", default=2026, show_default=True, type=int, help="Same seed, same dataset.")
def demo(db_path, seed):
    """Fill a database with the demo dataset (193 States, two rounds) and print the demo accounts.

    Refuses to run on a database that already has demo data: use a new --db to start over.
    """
    from .demo import DemoError, credentials_text, generate_demo
    from .setup import prepare

    path = database_path(db_path)
    db, message = prepare(path)
    try:
        summary = generate_demo(db, get_questionnaire(), seed=seed)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    if message:
        click.echo(message)
    click.echo(credentials_text(summary))


@main.command()
@db_option
@click.argument("file", type=click.Path(dir_okay=False))
def backup(db_path, file):
    """Copy the database to a new FILE, consistently, while the app keeps running.

    The copy is written under a temporary name, checked with SQLite's integrity check and only
    then renamed to FILE; if it fails or is interrupted nothing is left behind.
    """
    import signal

    from .storage.backup import BackupError
    from .storage.backup import backup as run_backup

    path = database_path(db_path)
    # SIGTERM (a service manager stopping the job) unwinds like Ctrl-C: the temporary file goes.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        result = run_backup(path, file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo(result.describe())


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


@main.command()
@db_option
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
def restore(db_path, file):
    """Replace the database with a backup FILE (checked first; the old one is kept aside)."""
    from .storage.backup import BackupError
    from .storage.backup import restore as run_restore

    path = database_path(db_path)
    try:
        counts = run_restore(file, path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Restored {path} from {file}: {counts['responses']} responses, {counts['answers']} answers,"
        f" {counts['users']} users. The previous database is kept as {path.name}.before-restore."
    )


@main.command("settings")
@click.option(
    "--markdown",
    is_flag=True,
    help="Print the documentation table (defaults and meanings) instead.",
)
def settings_command(markdown):
    """Print every deployment setting: variable, current value and where it comes from.

    Secrets are masked; exit 1 when a value cannot be read. The table of defaults and meanings
    is in docs/deployment.md (`--markdown` prints it).
    """
    from .settings import as_markdown, current_values

    if markdown:
        click.echo(as_markdown())
        return
    rows = current_values()
    width = max(len(row.setting.env) for row in rows)
    for row in rows:
        shown = row.shown if row.source != "unset" else "(not set)"
        note = "" if row.source == "unset" else f"  [{row.source}]"
        click.echo(f"{row.setting.env:<{width}}  {shown}{note}")
    problems = []
    for row in rows:
        try:
            setting(row.setting.name)
        except SettingError as exc:
            problems.append(str(exc))
    for problem in problems:
        click.echo(f"unreadable: {problem}", err=True)
    if problems:
        sys.exit(1)


@main.group()
def i18n():
    """Interface translations (gettext catalogs under survey/translations)."""


@i18n.command("compile")
@db_option
def i18n_compile(db_path):
    """Compile the .po catalogs into the instance folder (the app does this at start when needed).

    An installed wheel carries catalogs compiled at build time and does not need this; a source
    checkout compiles into `translations/` next to the database, never into the package.
    """
    from .i18n import CATALOGS, compile_catalogs

    target = database_path(db_path).parent / "translations"
    try:
        written = compile_catalogs(CATALOGS, target, force=True)
    except OSError as exc:
        raise click.ClickException(f"cannot write the catalogs into {target}: {exc}") from None
    click.echo(f"Compiled {len(written)} catalog(s) into {target}")


@i18n.command("check")
def i18n_check():
    """List missing translations per language (same as `questionnaire check --languages`)."""
    from .i18n_check import report_missing

    if not report_missing(get_questionnaire(), click.echo):
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
