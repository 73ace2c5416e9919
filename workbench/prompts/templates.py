"""Prompt templates that elicit an answer and a confidence, rendered with the model's chat template.

A template is two chat messages with two slots: ``{answer}`` where the answer goes and ``{confidence}``
where the model will say its confidence. Text after ``{confidence}`` is never shown to the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from workbench.errors import WorkbenchError, did_you_mean

ANSWER, CONFIDENCE = "{answer}", "{confidence}"


@dataclass(frozen=True, kw_only=True)
class PromptTemplate:
    """User and assistant text with ``{question}``, ``{answer}`` and ``{confidence}`` slots.

    When ``{answer}`` is in the assistant text, the model answers in place (greedy); when it is in the
    user text, the answer is given to the model (its own earlier answer, from ``answer_user``).
    """

    name: str
    user: str
    assistant: str
    system: str | None = None
    answer_user: str = "{question}\nAnswer in a few words."

    def __post_init__(self) -> None:
        both = self.user + self.assistant
        if CONFIDENCE not in self.assistant:
            raise WorkbenchError(
                f"template {self.name!r} has no confidence slot: put '{CONFIDENCE}' in the assistant text where the "
                "model should say its confidence (e.g. 'Confidence: {confidence}')")
        if both.count(ANSWER) != 1 or both.count(CONFIDENCE) != 1:
            raise WorkbenchError(f"template {self.name!r} needs exactly one '{ANSWER}' and one '{CONFIDENCE}' slot")
        if "{question}" not in self.user:
            raise WorkbenchError(f"template {self.name!r} has no '{{question}}' slot in its user text")
        if ANSWER in self.assistant and self.assistant.index(ANSWER) > self.assistant.index(CONFIDENCE):
            raise WorkbenchError(f"template {self.name!r}: the answer slot must come before the confidence slot")

    @property
    def answers_in_place(self) -> bool:
        """True when the model writes its answer inside this prompt's assistant turn."""
        return ANSWER in self.assistant

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PromptTemplate":
        return cls(**data)


TEMPLATES: dict[str, PromptTemplate] = {
    # Two worked examples fix the format; a 135M model otherwise rambles or answers "100" to every question.
    "answer_then_confidence": PromptTemplate(
        name="answer_then_confidence",
        user="Answer the question with a single word or number, then say how confident you are that your answer "
             "is correct, from 0 to 100.\n\n"
             "Question: What is the capital of Italy?\nAnswer: Rome\nConfidence: 95\n\n"
             "Question: What is 17 × 23?\nAnswer: 391\nConfidence: 40\n\n"
             "Question: {question}",
        assistant="Answer: {answer}\nConfidence: {confidence}",
    ),
    "confidence_only": PromptTemplate(
        name="confidence_only",
        user="Question: {question}\nProposed answer: {answer}\nHow confident are you that the proposed answer is "
             "correct? Reply with a number from 0 to 100.",
        assistant="Confidence: {confidence}",
    ),
}


def get_template(template: str | PromptTemplate) -> PromptTemplate:
    """A template by name or as given."""
    if isinstance(template, PromptTemplate):
        return template
    if template not in TEMPLATES:
        raise WorkbenchError(f"unknown template {template!r}.{did_you_mean(template, TEMPLATES)} "
                             f"Known: {', '.join(TEMPLATES)}")
    return TEMPLATES[template]
