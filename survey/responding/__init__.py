"""The respondent workflow without Flask: one save path, its tokens, view models and problems.

See docs/saving.md for the rules every entry path follows.
"""

from .chapter import (
    ChapterPost,
    ChapterView,
    OfferGroup,
    Problem,
    ProvisionView,
    QuestionView,
    chapter_view,
    field_name,
    read_chapter_post,
    token_name,
)
from .save import Conflict, Edit, SaveOutcome, SaveRefused, save_answers, save_provision
from .tokens import EMPTY, answer_token
from .workflow import (
    CopyPlan,
    PendingChange,
    copy_answers,
    copy_plan,
    pending_changes,
    prefill,
    undo_save,
)

__all__ = [
    "EMPTY",
    "ChapterPost",
    "ChapterView",
    "Conflict",
    "CopyPlan",
    "Edit",
    "OfferGroup",
    "PendingChange",
    "Problem",
    "ProvisionView",
    "QuestionView",
    "SaveOutcome",
    "SaveRefused",
    "answer_token",
    "chapter_view",
    "copy_answers",
    "copy_plan",
    "field_name",
    "pending_changes",
    "prefill",
    "read_chapter_post",
    "save_answers",
    "save_provision",
    "token_name",
    "undo_save",
]
