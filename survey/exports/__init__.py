"""Exports: the analyst workbook, the offline questionnaire, CSV and JSON (formula-injection safe)."""
