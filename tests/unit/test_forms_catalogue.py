"""Unit tests for portal.forms_catalogue: the shipped templates, the loader's rules, answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from portal.config import ConfigError
from portal.forms_catalogue import (
    FORMS_DIR,
    CatalogueError,
    FormTemplate,
    QuestionType,
    TemplateNotFound,
    catalogue,
    init_app,
    load_catalogue,
    validate_answers,
)
from portal.forms_catalogue.answers import NOT_ON_FORM
from portal.models.organisations import OrganisationKind

HERE = "# <- here"

VALID = """\
id = "sample"
version = 1
title = "Sample"
description = "A sample template."
for_organisation_kinds = ["school"]

[[section]]
id = "about"
title = "About"

[[section.question]]
id = "name"
type = "short_text"
label = "Name"
required = true
"""

SECTION_HEADER = "[[section]]"
QUESTION_HEADER = "[[section.question]]"


def write(directory: Path, text: str, name: str = "sample.v1.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def marked_line(text: str) -> int:
    """The line carrying the `# <- here` marker."""
    return next(n for n, line in enumerate(text.splitlines(), start=1) if HERE in line)


def load_error(directory: Path) -> str:
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(directory)
    message = str(raised.value)
    assert "\n" not in message and message.endswith(".")
    return message


# --- The shipped catalogue ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> list[FormTemplate]:
    return list(load_catalogue(FORMS_DIR))


def test_the_shipped_catalogue_has_the_three_templates_for_the_right_kinds() -> None:
    loaded = load_catalogue(FORMS_DIR)
    kinds = {template.id: template.for_organisation_kinds for template in loaded}
    assert kinds == {
        "school-contribution": ("school",),
        "police-information": ("police",),
        "health-information": ("health",),
    }
    assert [t.id for t in loaded.choices_for(OrganisationKind.POLICE)] == ["police-information"]
    assert loaded.choices_for(OrganisationKind.OTHER) == []
    assert loaded.latest("school-contribution") is loaded.get("school-contribution", 1)


def test_template_kinds_are_partner_organisation_kinds(shipped: list[FormTemplate]) -> None:
    partner_kinds = {kind.value for kind in OrganisationKind} - {OrganisationKind.COUNCIL.value}
    for template in shipped:
        assert set(template.for_organisation_kinds) <= partner_kinds


def test_attendance_is_asked_for_each_child_and_every_template_takes_documents(
    shipped: list[FormTemplate],
) -> None:
    school = next(template for template in shipped if template.id == "school-contribution")
    assert school.question("attendance-percentage").per_child
    assert not school.question("parent-engagement").per_child
    for template in shipped:
        assert any(question.type is QuestionType.FILE for question in template.questions)


def test_shipped_wording_follows_the_style(shipped: list[FormTemplate]) -> None:
    """Labels have no trailing colon; hints are sentences; error messages have no full stop."""

    def sentence(text: str) -> bool:
        return text[:1].isupper() and text.endswith(".") and "  " not in text

    for template in shipped:
        assert sentence(template.description), template.id
        for section in template.sections:
            assert section.hint is None or sentence(section.hint), section.id
        for question in template.questions:
            assert not question.label.rstrip().endswith(":"), question.id
            assert question.label[:1].isupper(), question.id
            assert question.hint is None or sentence(question.hint), question.id
            if question.required:
                message = question.required_message
                assert message and not message.endswith("."), question.id


def test_unknown_templates_are_refused() -> None:
    loaded = load_catalogue(FORMS_DIR)
    with pytest.raises(TemplateNotFound):
        loaded.get("school-contribution", 99)
    with pytest.raises(TemplateNotFound):
        loaded.latest("no-such-template")


def test_the_latest_version_is_offered(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    write(tmp_path, VALID.replace("version = 1", "version = 2"), "sample.v2.toml")
    loaded = load_catalogue(tmp_path)
    assert [(t.id, t.version) for t in loaded] == [("sample", 1), ("sample", 2)]
    assert loaded.latest("sample").version == 2
    assert [t.version for t in loaded.choices_for("school")] == [2]
    assert [t.version for t in loaded.latest_of_each()] == [2]


def test_init_app_loads_the_catalogue_or_stops_start_up(tmp_path: Path) -> None:
    app = Flask(__name__)
    init_app(app, FORMS_DIR)
    assert len(catalogue(app)) == 3
    with app.app_context():
        assert catalogue() is catalogue(app)
    write(tmp_path, VALID.replace('"short_text"', '"paragraph"'))
    with pytest.raises(ConfigError, match=r"sample\.v1\.toml, line 13: .*paragraph"):
        init_app(Flask(__name__), tmp_path)


# --- Every rule, with the file and line it names ------------------------------------------------


def replaced(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new, 1)


QUESTION_TAIL = "required = true\n"
BROKEN = {
    "toml syntax": (
        replaced('title = "Sample"', f'title = "Sample {HERE}'),
        "is not valid TOML",
    ),
    "type not known": (
        replaced('type = "short_text"', f'type = "paragraph" {HERE}'),
        'question "name" has type "paragraph", which is not one of short_text, long_text,',
    ),
    "section id repeated": (
        VALID + f'\n{SECTION_HEADER}\nid = "about" {HERE}\ntitle = "Again"\n'
        f'{QUESTION_HEADER}\nid = "other"\ntype = "yes_no"\nlabel = "Other"\nrequired = true\n',
        'the id "about" is used twice',
    ),
    "question id repeated across sections": (
        VALID + f'\n{SECTION_HEADER}\nid = "more"\ntitle = "More"\n'
        f'{QUESTION_HEADER}\nid = "name" {HERE}\ntype = "yes_no"\nlabel = "Again"\n'
        "required = true\n",
        'the id "name" is used twice',
    ),
    "question id repeats a section id": (
        VALID + f'\n{QUESTION_HEADER}\nid = "about" {HERE}\ntype = "yes_no"\nlabel = "A"\n'
        "required = true\n",
        'the id "about" is used twice',
    ),
    "choices empty": (
        replaced('type = "short_text"', 'type = "single_choice"') + f"choices = [] {HERE}\n",
        'question "name" is single_choice but has no choices',
    ),
    "choices missing": (
        replaced('type = "short_text"', f'type = "multiple_choice" {HERE}'),
        'question "name" is multiple_choice but has no choices',
    ),
    "choice values repeated": (
        replaced('type = "short_text"', 'type = "single_choice"')
        + f'choices = [ {HERE}\n  {{ value = "a", label = "A" }},\n'
        '  { value = "a", label = "Also A" },\n]\n',
        'question "name" has the choice value "a" twice',
    ),
    "choices on a text question": (
        VALID + f'choices = [{{ value = "a", label = "A" }}] {HERE}\n',
        'question "name" has choices, which only multiple_choice and single_choice questions',
    ),
    "max_length not positive": (
        VALID + f"max_length = 0 {HERE}\n",
        'question "name" has max_length = 0, which should be more than 0',
    ),
    "max_length on a number": (
        replaced('type = "short_text"', 'type = "number"') + f"max_length = 5 {HERE}\n",
        'question "name" has max_length, which only long_text and short_text questions take',
    ),
    "min above max": (
        replaced('type = "short_text"', 'type = "number"') + f"min = 10 {HERE}\nmax = 1\n",
        'question "name" has min greater than max',
    ),
    "min on a text question": (
        VALID + f"min = 1 {HERE}\n",
        'question "name" has min, which only number questions take',
    ),
    "section without questions": (
        VALID + f'\n{SECTION_HEADER} {HERE}\nid = "empty"\ntitle = "Empty"\n',
        'section "empty" has no questions',
    ),
    "key missing": (
        replaced(QUESTION_HEADER, f"{QUESTION_HEADER} {HERE}").replace(QUESTION_TAIL, ""),
        'question "name" is missing the key "required"',
    ),
    "key misspelt": (
        VALID + f"per_chid = true {HERE}\n",
        'question "name" has the key "per_chid", which form templates do not use',
    ),
    "organisation kind not known": (
        replaced('["school"]', f'["school", "council"] {HERE}'),
        'the template has for_organisation_kinds[1] "council", which is not one of school',
    ),
    "id not lower-case words": (
        replaced('id = "name"', f'id = "Child name" {HERE}'),
        'question 1 in section "about" has id "Child name", which is not lower-case',
    ),
    "required_message on an optional question": (
        replaced(QUESTION_TAIL, "required = false\n") + f'required_message = "Enter it" {HERE}\n',
        'question "name" has a required_message but is not required',
    ),
    "required not true or false": (
        replaced(QUESTION_TAIL, f'required = "yes" {HERE}\n'),
        'question "name" has required = "yes", which should be true or false',
    ),
    "label empty": (
        replaced('label = "Name"', f'label = " " {HERE}'),
        'question "name" has an empty label',
    ),
    "choices as sub-tables": (
        replaced('type = "short_text"', 'type = "single_choice"')
        + f'[[section.question.choices]] {HERE}\nvalue = "a"\nlabel = "A"\n'
        '[[section.question.choices]]\nvalue = "a"\nlabel = "A again"\n',
        'question "name" has the choice value "a" twice',
    ),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_a_broken_rule_names_the_file_and_line(tmp_path: Path, case: str) -> None:
    text, expected = BROKEN[case]
    write(tmp_path, text)
    message = load_error(tmp_path)
    assert message.startswith(f"{tmp_path / 'sample.v1.toml'}, line {marked_line(text)}: ")
    assert expected in message


def test_the_file_name_must_match_the_id_and_version(tmp_path: Path) -> None:
    text = replaced("version = 1", "version = 2")
    write(tmp_path, text)
    message = load_error(tmp_path)
    assert message == (
        f'{tmp_path / "sample.v1.toml"}, line 1: the template has id "sample" and version 2, '
        "so its file must be named sample.v2.toml."
    )


def test_a_template_needs_a_section(tmp_path: Path) -> None:
    write(tmp_path, VALID.split(SECTION_HEADER)[0])
    assert load_error(tmp_path) == f"{tmp_path / 'sample.v1.toml'}: the template has no sections."


def test_a_missing_or_empty_directory_is_refused(tmp_path: Path) -> None:
    assert "does not exist" in load_error(tmp_path / "nowhere")
    assert "has no .toml files" in load_error(tmp_path)


def test_paths_inside_the_project_are_shown_from_its_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("portal.forms_catalogue.loading.PROJECT_ROOT", tmp_path)
    forms = tmp_path / "forms"
    forms.mkdir()
    write(forms, VALID.replace("version = 1", "version = 0"))
    assert load_error(forms).startswith("forms/sample.v1.toml, line 2: the template has version")


# --- Answers -----------------------------------------------------------------------------------


def question(id: str, type: str, **options: object) -> dict[str, object]:
    return {"id": id, "type": type, "label": id.capitalize(), "required": False, **options}


CHOICES = [{"value": "red", "label": "Red"}, {"value": "blue", "label": "Blue"}]
PETS = [{"value": "cat", "label": "Cat"}, {"value": "dog", "label": "Dog"}]
ANSWERS_TEMPLATE = FormTemplate.model_validate(
    {
        "id": "answers",
        "version": 1,
        "title": "Answers",
        "description": "Every type of question.",
        "for_organisation_kinds": ["other"],
        "section": [
            {
                "id": "all",
                "title": "All",
                "question": [
                    question("short", "short_text", required=True, max_length=10),
                    question("story", "long_text"),
                    question("attended", "yes_no", required=True),
                    question(
                        "when",
                        "date",
                        required=True,
                        required_message="Enter the date of the last incident",
                    ),
                    question("colour", "single_choice", required=True, choices=CHOICES),
                    question("pets", "multiple_choice", choices=PETS),
                    question(
                        "sessions",
                        "number",
                        required=True,
                        per_child=True,
                        min=0,
                        max=50,
                        required_message="Enter the number of sessions missed",
                    ),
                    question("percent", "number", min=0, max=100, decimal_places=1),
                    question("report", "file", required=True),
                ],
            }
        ],
    }
)
CHILDREN = ["c1", "c2"]
COMPLETE: dict[str, object] = {
    "short": "Ten chars.",
    "story": "x" * 5000,
    "attended": "yes",
    "when": "2024-02-29",
    "colour": "red",
    "pets": ["cat", "dog"],
    "sessions:c1": "0",
    "sessions:c2": "50",
    "percent": "87.5",
}


def check(answers: dict[str, object], *, final: bool = True) -> dict[str, str]:
    return validate_answers(ANSWERS_TEMPLATE, answers, CHILDREN, final=final)


def test_complete_answers_pass_and_file_questions_are_left_alone() -> None:
    assert check(COMPLETE) == {}
    assert check({**COMPLETE, "report": "anything"}) == {}


def test_a_draft_may_leave_required_questions_unanswered() -> None:
    assert check({}, final=False) == {}
    assert check({"short": "  ", "pets": []}, final=False) == {}


def test_final_answers_must_answer_every_required_question_in_form_order() -> None:
    assert check({"short": "   "}) == {
        "short": "Enter an answer",
        "attended": "Select yes or no",
        "when": "Enter the date of the last incident",
        "colour": "Select an option",
        "sessions:c1": "Enter the number of sessions missed",
        "sessions:c2": "Enter the number of sessions missed",
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("short", "Eleven char", "Answer must be 10 characters or fewer"),
        ("story", "x" * 5001, "Answer must be 5000 characters or fewer"),
        ("short", ["a list"], "Answer must be text"),
        ("attended", "maybe", "Select yes or no"),
        ("when", "2023-02-29", "Date must be a real date"),
        ("when", "29/02/2024", "Date must be a real date"),
        ("when", {"day": "30", "month": "2", "year": "2024"}, "Date must be a real date"),
        ("when", {"day": "1", "month": "", "year": "2024"}, "Date must include a month"),
        ("when", {"day": "", "month": "", "year": "2024"}, "Date must include a day and month"),
        ("when", {"day": "1", "month": "2", "year": "24"}, "Year must include 4 numbers"),
        ("colour", "green", "Select one of the options shown"),
        ("pets", ["cat", "hamster"], "Select from the options shown"),
        ("pets", "cat", "Select from the options shown"),
        ("sessions:c1", "many", "Answer must be a number"),
        ("sessions:c1", "NaN", "Answer must be a number"),
        ("sessions:c1", True, "Answer must be a number"),
        ("sessions:c1", "51", "Answer must be between 0 and 50"),
        ("sessions:c2", "-1", "Answer must be between 0 and 50"),
        ("sessions:c1", "2.5", "Answer must be a whole number"),
        ("percent", "87.25", "Answer must have no more than 1 decimal place"),
        ("percent", "100.1", "Answer must be between 0 and 100"),
    ],
)
def test_a_wrong_answer_gets_a_clear_message_even_in_a_draft(
    key: str, value: object, message: str
) -> None:
    assert check({key: value}, final=False) == {key: message}
    assert check({**COMPLETE, key: value}) == {key: message}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("short", "  Ten chars.  "),
        ("story", "x\r\n" * 2500),  # a line break is one character, however the browser sends it
        ("when", {"day": "29", "month": "02", "year": "2024"}),
        ("sessions:c1", "1,0"),
        ("sessions:c1", 12),
        ("percent", "99.0"),
        ("percent", 0.5),
    ],
)
def test_answers_in_the_forms_people_type_are_accepted(key: str, value: object) -> None:
    assert check({**COMPLETE, key: value}) == {}


def test_per_child_answers_are_keyed_by_child_and_unknown_keys_are_refused() -> None:
    assert check({"sessions": "1", "sessions:c3": "1", "nope": "x"}, final=False) == {
        "sessions": NOT_ON_FORM,
        "sessions:c3": NOT_ON_FORM,
        "nope": NOT_ON_FORM,
    }
    assert check({"short:c1": "x"}, final=False) == {"short:c1": NOT_ON_FORM}
    assert validate_answers(ANSWERS_TEMPLATE, {"sessions:c1": "1"}, ["c2"], final=False) == {
        "sessions:c1": NOT_ON_FORM
    }
