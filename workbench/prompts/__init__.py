"""Prompts: templates with answer and confidence slots, the chat rendering, confidence vocabularies, roles."""

from workbench.prompts.render import ROLES
from workbench.prompts.templates import TEMPLATES, PromptTemplate, get_template
from workbench.prompts.vocabulary import VOCABULARIES, ConfidenceVocabulary, get_vocabulary

__all__ = ["ROLES", "TEMPLATES", "PromptTemplate", "get_template", "VOCABULARIES", "ConfidenceVocabulary",
           "get_vocabulary"]
