"""The omnibus questionnaire: files -> dicts (loader) -> validated immutable model (validate, model)."""

from .errors import Problem, QuestionnaireError
from .loader import check_directory, default_directory, get_questionnaire, load_questionnaire
from .model import Provision, Question, Questionnaire

__all__ = [
    "Problem",
    "Provision",
    "Question",
    "Questionnaire",
    "QuestionnaireError",
    "check_directory",
    "default_directory",
    "get_questionnaire",
    "load_questionnaire",
]
