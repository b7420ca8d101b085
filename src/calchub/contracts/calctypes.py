"""What the server says about the calculation types it knows."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class UploadInfo(BaseModel):
    path: str
    required: bool
    description: str = ""


class AnalysisInfo(BaseModel):
    name: str
    needs: list[str]
    description: str = ""
    default: bool = True


class CalcTypeSummary(BaseModel):
    name: str
    version: str
    title: str = ""
    source: str = ""


class CalcTypeInfo(CalcTypeSummary):
    description: str = ""
    digest: str
    input_schema: dict[str, Any]
    uploads: list[UploadInfo] = []
    command: list[str] = []
    resources: dict[str, Any] = {}
    keep: list[str] = []
    cleanup: list[str] = []
    provides: list[str] = []
    analyses: list[AnalysisInfo] = []


class RefusedType(BaseModel):
    source: str
    error: str


class CalcTypeList(BaseModel):
    items: list[CalcTypeSummary]
    refused: list[RefusedType] = []
