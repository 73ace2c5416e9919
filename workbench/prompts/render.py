"""Render templates to token ids with the chat template, and locate the position roles.

Rendering works on token-id segments so the model sees exactly the ids we record: the prompt before the
answer, the answer, and the text between the answer and the confidence slot. A base model whose tokenizer
has no chat template (gemma-3-270m) gets plain text instead: BOS, the system text, the user text, a newline,
then the assistant text, which for the few-shot templates continues the worked examples' own format.
"""

from __future__ import annotations

from typing import Any

from workbench.prompts.templates import ANSWER, CONFIDENCE, PromptTemplate

ROLES: tuple[str, ...] = ("pre_answer", "answer_last", "post_answer", "confidence_slot")
_A, _C = "\u2063ANSWER\u2063", "\u2063CONFIDENCE\u2063"  # invisible sentinels, never in a real prompt


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` as-is (chat-template special tokens are parsed, none are added)."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _chat(tokenizer: Any, template: PromptTemplate, user: str, assistant: str | None) -> str:
    if getattr(tokenizer, "chat_template", None) is None:  # a base model: plain text
        text = (tokenizer.bos_token or "") + (f"{template.system}\n\n" if template.system else "") + user + "\n"
        return text if assistant is None else text + assistant
    messages = [{"role": "system", "content": template.system}] if template.system else []
    messages.append({"role": "user", "content": user})
    if assistant is None:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    messages.append({"role": "assistant", "content": assistant})
    return tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)


def _split_space(before: str) -> tuple[str, str]:
    """Move trailing spaces of the text before an answer into the answer, as tokenizers expect (' Paris')."""
    stripped = before.rstrip(" ")
    return stripped, before[len(stripped):]


def answer_prompt(tokenizer: Any, template: PromptTemplate, question: str) -> str:
    """The text the model continues to produce its answer."""
    if template.answers_in_place:
        chat = _chat(tokenizer, template, template.user.format(question=question),
                     template.assistant.replace(ANSWER, _A).replace(CONFIDENCE, _C))
        return _split_space(chat[: chat.index(_A)])[0]
    return _chat(tokenizer, template, template.answer_user.format(question=question), None)


def confidence_segments(tokenizer: Any, template: PromptTemplate, question: str, answer: str) -> list[str]:
    """[text before the answer, the answer, text from after the answer to the confidence slot]."""
    user = template.user.replace(ANSWER, _A).format(question=question)
    chat = _chat(tokenizer, template, user, template.assistant.replace(ANSWER, _A).replace(CONFIDENCE, _C))
    chat = chat[: chat.index(_C)]
    before, after = chat.split(_A)
    before, space = _split_space(before)
    return [before, space + answer, after]


def gold_continuation(prompt: str, gold: str) -> str:
    """How the gold answer would follow the answer prompt (with a leading space after 'Answer:')."""
    return gold if prompt[-1:].isspace() or not prompt else " " + gold


def role_positions(n_before: int, n_answer: int, n_after: int) -> dict[str, int]:
    """Token index of each role in [before | answer | after]; an empty answer puts answer_last on pre_answer."""
    return {
        "pre_answer": n_before - 1,
        "answer_last": n_before + n_answer - 1,
        "post_answer": n_before + n_answer,
        "confidence_slot": n_before + n_answer + n_after - 1,
    }
