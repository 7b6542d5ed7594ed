"""What a public post may show of the words models wrote: the last guard before the channel.

The brief is cleaned where it is made (``pipeline.brief``), but a post can still carry
model text from before that, or from the caption model (the photo's description). So
every value a post takes from a model passes here, for the channel and the operators'
copy alike:

- links, e-mail addresses and @mentions go, whatever ``IMMU_MODERATION`` says;
- with moderation on (``auto`` or ``review``), a blocked word anywhere in them
  (``pipeline.model_text.DEFAULT_BLOCKED_WORDS`` plus ``IMMU_BLOCKED_WORDS``) withholds
  them all: the post goes out with a neutral caption, and an audio's title is "IMMU".
"""

from __future__ import annotations

import functools
import logging
from dataclasses import astuple, dataclass

from bot.settings import Settings
from pipeline.model_text import (
    DEFAULT_BLOCKED_WORDS,
    any_blocked,
    blocked_in,
    blocked_pattern,
    unlinked,
)
from storage import Job, TrackRow

log = logging.getLogger(__name__)

NEUTRAL_TITLE = "IMMU"
TITLE_CHARS = 64
# posts whose verdict ``withholds`` remembers: the store asks it of every public post for
# each filter list it makes, and the blocked words never change while the bot runs
VERDICTS_KEPT = 8192


@dataclass(frozen=True)
class Said:
    """The model-written values of one post, fit to show."""

    description: str
    genre: str
    mood: str
    photo: str  # the caption model's words about the photo
    music: str  # the prompt the track was made from


class PublicText:
    def __init__(self, settings: Settings) -> None:
        on = settings.moderation != "off"
        self.blocked = (*DEFAULT_BLOCKED_WORDS, *settings.blocked_words) if on else ()
        self._pattern = blocked_pattern(self.blocked)  # all of them, one search
        self._verdicts = functools.lru_cache(maxsize=VERDICTS_KEPT)(self._withholds)

    def of(self, job: Job, track: TrackRow) -> Said | None:
        """The post's model-written values without links; None if one holds a blocked word
        (logged: the operator may wonder why a caption says so little)."""
        said = self._said(job, track)
        found = self._blocked(said)
        if found:
            log.info("model text withheld job=%d words=%s", job.id, ",".join(found))
            return None
        return said

    def title(self, job: Job, track: TrackRow) -> str:
        """An audio's title: its genre, or "IMMU" where the caption is withheld."""
        said = self._said(job, track)
        return said.genre[:TITLE_CHARS] if said.genre and not self._blocked(said) else NEUTRAL_TITLE

    def withholds(self, description: str, genre: str, mood: str, photo: str, music: str) -> bool:
        """True if a post with these model-written values goes out with none of them (as
        ``of`` says None): the store's test of posts whose words no filter may show, asked
        of every public post, so each post's answer is remembered."""
        return self._verdicts(description, genre, mood, photo, music)

    def word(self, value: str) -> str:
        """One model-written value on its own (a mood or a genre offered as a filter):
        without links, or "" where it holds a blocked word."""
        shown = unlinked(value)
        return "" if self._holds_blocked(shown) else shown

    def _said(self, job: Job, track: TrackRow) -> Said:
        brief = job.brief
        return Said(
            description=unlinked(brief.description if brief else ""),
            genre=unlinked(track.genre),
            mood=unlinked(brief.mood if brief else ""),
            photo=unlinked(job.captions[0] if job.captions else ""),
            music=unlinked(track.prompt),
        )

    def _withholds(self, description: str, genre: str, mood: str, photo: str, music: str) -> bool:
        said = Said(*(unlinked(value) for value in (description, genre, mood, photo, music)))
        return self._holds_blocked("\n".join(astuple(said)))

    def _holds_blocked(self, text: str) -> bool:
        """Whether ``blocked_in(text, self.blocked)`` finds a word, in one search."""
        return any_blocked(text, self._pattern)

    def _blocked(self, said: Said) -> list[str]:
        """The blocked words the post's values hold, by name (for the log): the one search
        first, as most posts hold none."""
        text = "\n".join(astuple(said))
        return blocked_in(text, self.blocked) if self._holds_blocked(text) else []
