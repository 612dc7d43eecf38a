"""Responses the citizen's pages and the DPO's dashboard share: private
images and the access package download."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponse

from subjects.jobs.access_package import record_download


def private_jpeg(data: bytes | None) -> HttpResponse:
    """An image for one viewer only, never cached; 404 when there is none."""
    if data is None:
        raise Http404
    response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    return response


def package_download(package, *, actor: str) -> FileResponse | None:
    """The package as a download, recorded in the audit trail; None when
    the person's single-use link was used meanwhile."""
    if not record_download(package, actor=actor):
        return None
    response = FileResponse(package.file.open("rb"), as_attachment=True,
                            filename=f"{package.request.reference}.zip",
                            content_type="application/zip")
    response["Cache-Control"] = "private, no-store"
    return response
