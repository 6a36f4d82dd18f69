"""A form's REQUIRED fields and a SUBJECT that reads well when the visitor left a field out."""

import pytest

from dinky_falcon.errors import ConfigError

JSON = {"Accept": "application/json"}


def post(client, fields, headers=JSON):
    return client.simulate_post("/forms/contact", json=fields, headers=headers)


def test_a_submission_missing_a_required_field_is_refused_naming_it(make_client):
    client, mailer = make_client(
        FORM_CONTACT_TO="team@example.org", FORM_CONTACT_REQUIRED="name,email"
    )
    result = post(client, {"message": "hello", "name": "  "})
    assert result.status_code == 422
    assert set(result.json["details"]) == {"name", "email"}
    page = post(client, {"message": "hello", "name": "Ada"}, headers={"Accept": "text/html"})
    assert page.status_code == 422
    assert "<strong>email</strong>" in page.text and "<strong>name</strong>" not in page.text
    assert mailer.transports[0][1].sent == []  # refused before anything is sent
    assert post(client, {"name": "Ada", "email": "ada@example.org"}).status_code == 200


def test_required_may_be_set_in_the_forms_file(make_settings, tmp_path):
    forms = tmp_path / "forms.toml"
    forms.write_text('[contact]\nto = "team@example.org"\nrequired = ["email"]\n')
    (form,) = make_settings(FORMS_FILE=str(forms)).forms
    assert form.required == ("email",)


def test_a_required_field_outside_fields_stops_the_start(make_settings):
    with pytest.raises(ConfigError) as error:
        make_settings(
            FORM_CONTACT_TO="team@example.org",
            FORM_CONTACT_FIELDS="email,message",
            FORM_CONTACT_REQUIRED="name",
        )
    assert str(error.value).startswith("FORM_CONTACT_*: required: 'name' is not among the fields")


@pytest.mark.parametrize(
    "template, fields, subject",
    [
        ("New message from {name|a visitor}", {"message": "hi"}, "New message from a visitor"),
        ("New message from {name|a visitor}", {"name": "Ada"}, "New message from Ada"),
        ("Contact: {name} - {topic}", {"name": "Ada"}, "Contact: Ada"),
        ("{topic}", {"name": "Ada"}, "New submission to the contact form"),
        ("Question:", {"name": "Ada"}, "Question:"),  # nothing emptied: the text as written
    ],
)
def test_an_empty_placeholder_leaves_no_dangling_text(make_client, template, fields, subject):
    client, mailer = make_client(FORM_CONTACT_TO="team@example.org", FORM_CONTACT_SUBJECT=template)
    assert post(client, fields).status_code == 200
    ((message, _),) = mailer.transports[0][1].sent
    assert message["Subject"] == subject
