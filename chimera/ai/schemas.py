"""Structured outputs the platform asks the AI engine for.

Validate with `Model.model_validate(data, context={...})`; ProductDraftOut reads
`primary_keyword` from the context to check the title starts with it.
"""

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

Score = Field(ge=0, le=5)


class DraftRubric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    readability: int = Score
    intent_match: int = Score
    uniqueness: int = Score
    seo: int = Score
    brand_fit: int = Score


class ProductDraftOut(BaseModel):
    """The product draft contract: title <= 70 chars starting with the primary keyword."""

    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=3, max_length=70)
    description: str = Field(min_length=20, max_length=5000)
    tags: list[str] = Field(min_length=1, max_length=20)
    assets: list[str] = Field(default_factory=list, max_length=20)
    price: Decimal = Field(gt=0, max_digits=10, decimal_places=2)
    rubric: DraftRubric

    @field_validator("tags")
    @classmethod
    def _tags_clean(cls, tags: list[str]) -> list[str]:
        cleaned = [t.strip() for t in tags if t and t.strip()]
        if not cleaned:
            raise ValueError("tags must contain at least one non-empty tag")
        return cleaned

    @model_validator(mode="after")
    def _title_starts_with_primary_keyword(self, info: ValidationInfo):
        keyword = ((info.context or {}).get("primary_keyword") or "").strip()
        if keyword and not self.title.lower().startswith(keyword.lower()):
            raise ValueError(f"title must start with the primary keyword {keyword!r}, got {self.title!r}")
        return self


class ListingCopyOut(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=3, max_length=140)
    bullets: list[str] = Field(min_length=1, max_length=10)
    description: str = Field(min_length=20)
    tags: list[str] = Field(default_factory=list, max_length=20)


class EmailOut(BaseModel):
    model_config = ConfigDict(extra="ignore")

    subject: str = Field(min_length=3, max_length=150)
    body: str = Field(min_length=20)


class SupportAnswerOut(BaseModel):
    model_config = ConfigDict(extra="ignore")

    answer: str = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)
    escalate: bool
    sources: list[str] = Field(default_factory=list)


class ClassificationOut(BaseModel):
    model_config = ConfigDict(extra="ignore")

    label: str = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)
    scores: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _label_is_known(self, info: ValidationInfo):
        labels = (info.context or {}).get("labels")
        if labels and self.label not in labels:
            raise ValueError(f"label must be one of {list(labels)}, got {self.label!r}")
        return self


# Task types whose answer is always structured, even when the caller passes no schema.
TASK_SCHEMAS: dict[str, type[BaseModel]] = {
    "product_draft": ProductDraftOut,
    "listing_copy": ListingCopyOut,
    "email": EmailOut,
    "support_answer": SupportAnswerOut,
    "classification": ClassificationOut,
}
