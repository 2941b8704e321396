"""The ``[content]`` section: rich alert content (livelike-alerts.txt: an image and a link with its label on an
alert item) and opt-in open tracking (sendbird-announcements.txt: ``open_count`` / ``open_rate``).

Images are fetched once, when the alert is accepted, by :mod:`alertnode.jobs.images` with these limits; the
opens are recognised by :mod:`alertnode.api.visits`.
"""

from __future__ import annotations

import fnmatch

from pydantic import BaseModel, ConfigDict, Field

from alertnode.errors import Problem


class ContentSection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    image_max_bytes: int = Field(
        1024 * 1024, gt=0, le=16 * 1024 * 1024,
        description="Largest image an alert item's image_url may point to; a larger one refuses the alert (400 at "
        "its image_url).",
    )
    image_fetch_timeout_s: float = Field(
        10.0, gt=0, le=120, description="Time an image fetch may take in all (connect, redirects, body).",
    )
    image_max_redirects: int = Field(
        3, ge=0, le=10, description="HTTP redirects followed when fetching an image (a loop is refused at once).",
    )
    image_hosts: list[str] = Field(
        default_factory=list,
        description="Host names an image may be fetched from, as globs (\"*.example.com\"); checked on every "
        "redirect too. Empty: any host. The fetch sends no credentials, cookies or proxy settings.",
    )
    track_opens: bool = Field(
        False,
        description="Put a per-recipient tracking image in every e-mail (the item's trackOpens overrides it), so "
        "that opens are counted (open_count, open_rate). Off by default: it tells the node when a person read "
        "the message.",
    )
    scanner_agents: list[str] = Field(
        default_factory=list,
        description="More User-Agent fragments (case-insensitive) of link scanners and image proxies, added to "
        "the built-in list: their requests are recorded as `previewed`, never as opened.",
    )

    def problems(self, prefix: str) -> list[Problem]:
        out: list[Problem] = []
        for i, pattern in enumerate(self.image_hosts):
            if not pattern or any(ch in pattern for ch in "/:@ ") or not fnmatch.translate(pattern):
                out.append(Problem(f"{prefix}.image_hosts[{i}]", "a host name glob (no scheme, port or path)"))
        for i, fragment in enumerate(self.scanner_agents):
            if len(fragment.strip()) < 3:
                out.append(Problem(f"{prefix}.scanner_agents[{i}]", "at least 3 characters"))
        return out
