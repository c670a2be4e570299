"""Fuzzing: arbitrary input gives a valid result or a clear error, never an unhandled exception."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from survey.questionnaire.errors import Problem
from survey.questionnaire.loader import parse_yaml
from survey.questionnaire.validate import build

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
keys = st.sampled_from(
    [
        "id",
        "version",
        "title",
        "shared",
        "instruments",
        "chapters",
        "provisions",
        "article",
        "obligation",
        "summary",
        "cross_references",
        "name",
        "type",
        "label",
        "choices",
        "relevant",
        "standard_block",
        "choice_lists",
        "en",
        "fr",
        "x",
    ]
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None)
@given(manifest=documents, shared=documents, instrument=documents)
def test_validator_turns_any_structure_into_a_model_or_problems(manifest, shared, instrument):
    model, problems = build(manifest, {"shared.yaml": shared, "tip.yaml": instrument})
    assert (model is None) == bool(problems)
    assert all(isinstance(p, Problem) and str(p) for p in problems)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_yaml_parser_turns_any_text_into_data_or_a_syntax_problem(text):
    data, problems = parse_yaml(text, "x.yaml")
    assert data is None or not problems
    for p in problems:
        assert p.code == "yaml_syntax" and p.file == "x.yaml"


def test_yaml_bombs_are_refused_or_bounded():
    billion_laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "\n".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]"
        for i in range(8)
    )
    data, problems = parse_yaml(billion_laughs, "bomb.yaml")
    # PyYAML shares aliased nodes instead of copying them, so memory stays bounded; the validator
    # then reports unknown keys instead of expanding anything.
    assert problems or isinstance(data, dict)
    _model, problems = build(
        {"id": "x", "version": "1", "title": "x", "shared": "s.yaml", "instruments": ["t.yaml"]},
        {"s.yaml": data, "t.yaml": data},
    )
    assert problems


form_values = st.one_of(
    st.text(max_size=50),
    st.sampled_from(["yes", "no", "fully", "partly", "not_yet", "na", "legal_advice", ""]),
)
form_keys = st.sampled_from(
    [
        "TIP-5.compliance",
        "TIP-5.measures",
        "TIP-5.ta_types",
        "TIP-5.ta_needed",
        "TIP-5.compliance.v",
        "TIP-5.measures.v",
        "keep_theirs",
        "TIP-5.present",
        "UNCAC-15.compliance",
        "state",
        "x",
    ]
)


@pytest.fixture
def ken_client(login_as):
    return login_as("ken@example.org")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fields=st.lists(st.tuples(form_keys, form_values), max_size=12), autosave=st.booleans())
def test_answer_form_handler_never_fails_with_a_server_error(
    ken_client, round_id, fields, autosave
):
    url = f"/fill/{round_id}/TIP/general_provisions"
    token = ken_client.csrf(url)
    data = MultiDict([("csrf_token", token), *fields])
    headers = {"X-Autosave": "1"} if autosave else {}
    response = ken_client.client.post(url, data=data, headers=headers)
    assert response.status_code < 500, response.get_data(as_text=True)[:500]


# -- offline import --------------------------------------------------------------------------

# Values a person can type into a cell (openpyxl itself refuses control characters).
cell_values = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=40),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(
        ["yes", "no", "fully", "partly", "not_yet", "Not yet", "na", "=1+1", "legal_advice; other"]
        + ["#N/A", "‮"]
    ),
)


@pytest.fixture(scope="module")
def offline_template(tmp_path_factory):
    """A real offline workbook for Kenya, exported once for the module."""
    from survey.exports.offline import export_offline
    from survey.questionnaire import get_questionnaire
    from survey.setup import prepare
    from survey.storage.rounds import current_round

    path = tmp_path_factory.mktemp("offline") / "survey.db"
    db, _ = prepare(path)
    round_id = current_round(db)["id"]
    out = path.parent / "ken.xlsx"
    export_offline(db, get_questionnaire(), round_id, "KEN", out)
    db.conn.close()
    return path, round_id, out.read_bytes()


def _import(db_path, round_id, data):
    import io

    from survey.exports.offline import OfflineImportError, import_offline
    from survey.questionnaire import get_questionnaire
    from survey.storage import connect

    db = connect(db_path, migrate=False)
    try:
        return import_offline(
            db, get_questionnaire(), round_id, "KEN", io.BytesIO(data), user_id=None
        )
    except OfflineImportError as exc:
        assert exc.messages and all(isinstance(m, str) and m for m in exc.messages)
        return None
    finally:
        db.conn.close()


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=2000))
def test_offline_import_turns_arbitrary_bytes_into_a_clear_error(offline_template, data):
    db_path, round_id, _ = offline_template
    assert _import(db_path, round_id, data) is None


@settings(max_examples=12, deadline=None)
@given(
    values=st.lists(cell_values, min_size=1, max_size=8),
    rows=st.lists(st.integers(min_value=2, max_value=60), min_size=1, max_size=8),
)
def test_offline_import_of_any_typed_cells_is_a_result_or_a_clear_error(
    offline_template, values, rows
):
    import io

    from openpyxl import load_workbook

    db_path, round_id, template = offline_template
    wb = load_workbook(io.BytesIO(template))
    ws = wb["TIP"]
    for row, value in zip(rows, values, strict=False):
        ws.cell(min(row, ws.max_row), 6).value = value
    buffer = io.BytesIO()
    wb.save(buffer)
    _import(db_path, round_id, buffer.getvalue())  # returns a result or None after a clear error
