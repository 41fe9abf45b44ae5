"""Chimera AI engine: every bot and feature generates text through here.

    from chimera.ai.services import ai_generate
    result = ai_generate(company=company, task_type="product_draft", prompt="Draft a product",
                         context={"category": "notion template", "audience": "freelancers",
                                  "keywords": ["budget planner"], "refs": []},
                         correlation_id=str(mission.correlation_id))
    result.content, result.data, result.provider, result.cost_usd

- Routing, providers, prices, budgets and safe modes: configs/models.yml (AUTONOMAX_MODELS_FILE).
- Structured task types (product_draft, listing_copy, email, support_answer, classification) always
  return `data`, validated against chimera.ai.schemas; pass `schema=` for any other shape.
- Errors (chimera.ai.errors, all AppError): BudgetExceeded (429), AllProvidersFailed (503),
  ProviderRejectedRequest / StructuredOutputError (502), RedactionError (500), bad input (400).
- Reads for dashboards: chimera.ai.selectors.ai_spend_summary; partial chimera/ai/_spend_panel.html.
- Call it outside long transactions: inside one, the day's budget row stays locked until it commits.
"""
