"""Lint-time stand-in for dbt's `api` context member."""


class Column:
    @staticmethod
    def translate_type(dtype: str) -> str:
        return dtype
