"""The municipality's form (skjema) and the validation of a citizen's answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

QuestionKind = Literal["yes_no", "choice", "text"]

MAX_TEXT_ANSWER = 500
_YES = {True, "ja", "yes", "true", "j", "y"}
_NO = {False, "nei", "no", "false", "n"}


@dataclass(frozen=True)
class Question:
    """One question of a timebook's form."""

    id: str
    text: str
    kind: QuestionKind = "yes_no"
    required: bool = True
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Form:
    """The questions a citizen answers when booking (step 5)."""

    title: str = ""
    questions: tuple[Question, ...] = ()


@dataclass(frozen=True)
class Answer:
    """An answer to one question, with the question's text as it was asked."""

    question_id: str
    question: str
    answer: str


@dataclass(eq=False)  # compared by nothing: no generated __eq__ to compile at a cold start
class AnswerErrors:
    """What is wrong with the answers, field by field (a 400's `fields`)."""

    fields: list[tuple[str, str]] = field(default_factory=list)

    def add(self, question_id: str, message: str) -> None:
        self.fields.append((f"answers.{question_id}", message))


def _yes_no(value: Any) -> str | None:
    key = value.strip().lower() if isinstance(value, str) else value
    if isinstance(key, bool | str):
        if key in _YES:
            return "Ja"
        if key in _NO:
            return "Nei"
    return None


def _one(question: Question, value: Any) -> tuple[str | None, str | None]:
    """Returns (answer, error)."""
    if question.kind == "yes_no":
        answer = _yes_no(value)
        return (answer, None) if answer else (None, "must be yes or no (true/false, ja/nei)")
    if not isinstance(value, str):
        return None, "must be a string"
    if question.kind == "choice":
        return (value, None) if value in question.options else (None, "must be one of the options")
    text = value.strip()
    if len(text) > MAX_TEXT_ANSWER:
        return None, f"at most {MAX_TEXT_ANSWER} characters"
    return text, None


def validate_answers(form: Form, answers: Mapping[str, Any]) -> tuple[list[Answer], AnswerErrors]:
    """Answers in the form's order; unknown, missing-required and malformed answers are errors."""
    errors = AnswerErrors()
    known = {q.id for q in form.questions}
    for question_id in answers:
        if question_id not in known:
            errors.add(question_id, "no such question in this form")
    result: list[Answer] = []
    for question in form.questions:
        value = answers.get(question.id)
        if value is None or (isinstance(value, str) and not value.strip()):
            if question.required:
                errors.add(question.id, "an answer is required")
            continue
        answer, error = _one(question, value)
        if error:
            errors.add(question.id, error)
        elif answer is not None:
            result.append(Answer(question.id, question.text, answer))
    return result, errors
