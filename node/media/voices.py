"""The voices table: which engine voice speaks a BCP 47 language, and the look-ups on it.

Pure data and functions. ``alertnode.media.config`` (validating ``media.default_language``) and
``alertnode.media.tts`` (synthesis) both import it, so neither imports the other.

* espeak-ng: ``LANGUAGES`` gives the espeak-ng voice per language; gender picks a variant
  (``+m3`` male, ``+f3`` female), as ``espeak-ng -v en-gb+f3``.
* gTTS: language and top-level domain (``en`` + ``co.uk`` is the British voice); gTTS has one
  voice per language, so gender is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from alertnode.errors import MediaError

# BCP 47 language -> (espeak-ng voice, gTTS lang, gTTS tld)
LANGUAGES: dict[str, tuple[str, str, str]] = {
    "en-gb": ("en-gb", "en", "co.uk"),
    "en-us": ("en-us", "en", "com"),
    "en-au": ("en-gb", "en", "com.au"),
    "en-ca": ("en-us", "en", "ca"),
    "en-ie": ("en-gb", "en", "ie"),
    "en-in": ("en-gb", "en", "co.in"),
    "en-nz": ("en-gb", "en", "co.nz"),
    "en-za": ("en-gb", "en", "co.za"),
    "de-de": ("de", "de", "de"),
    "de-at": ("de", "de", "at"),
    "de-ch": ("de", "de", "ch"),
    "fr-fr": ("fr-fr", "fr", "fr"),
    "fr-be": ("fr-be", "fr", "be"),
    "fr-ch": ("fr-ch", "fr", "ch"),
    "fr-ca": ("fr-fr", "fr", "ca"),
    "es-es": ("es", "es", "es"),
    "es-mx": ("es-419", "es", "com.mx"),
    "es-us": ("es-419", "es", "com"),
    "it-it": ("it", "it", "it"),
    "nl-nl": ("nl", "nl", "nl"),
    "nl-be": ("nl", "nl", "be"),
    "pt-pt": ("pt", "pt", "pt"),
    "pt-br": ("pt-br", "pt", "com.br"),
    "pl-pl": ("pl", "pl", "pl"),
    "sv-se": ("sv", "sv", "se"),
    "da-dk": ("da", "da", "dk"),
    "nb-no": ("nb", "no", "no"),
    "fi-fi": ("fi", "fi", "fi"),
    "cs-cz": ("cs", "cs", "cz"),
    "sk-sk": ("sk", "sk", "sk"),
    "hu-hu": ("hu", "hu", "hu"),
    "ro-ro": ("ro", "ro", "ro"),
    "el-gr": ("el", "el", "gr"),
    "tr-tr": ("tr", "tr", "com.tr"),
    "ru-ru": ("ru", "ru", "ru"),
    "uk-ua": ("uk", "uk", "com.ua"),
    "ja-jp": ("ja", "ja", "co.jp"),
    "ko-kr": ("ko", "ko", "co.kr"),
    "zh-cn": ("cmn", "zh-CN", "com"),
    "hi-in": ("hi", "hi", "co.in"),
    "ar": ("ar", "ar", "com"),
}
# A bare language tag means its first regional form.
BARE = {"en": "en-gb", "de": "de-de", "fr": "fr-fr", "es": "es-es", "it": "it-it", "nl": "nl-nl"}
BARE |= {"pt": "pt-pt", "pl": "pl-pl", "sv": "sv-se", "da": "da-dk", "fi": "fi-fi", "ru": "ru-ru"}
GENDERS = {"MALE": "+m3", "FEMALE": "+f3"}
ENGINES = ("espeak", "gtts")


@dataclass(frozen=True)
class Voice:
    engine: str
    name: str  # espeak-ng voice+variant, or gTTS "lang@tld"


def canonical(language: str) -> str:
    lang = language.strip().replace("_", "-").lower()
    return BARE.get(lang, lang)


def language_known(language: str) -> bool:
    return canonical(language) in LANGUAGES


def known_languages() -> list[str]:
    return sorted({k.split("-")[0] + k[2:].upper() if "-" in k else k for k in LANGUAGES})


def gender_known(gender: str) -> bool:
    return gender.strip().upper() in GENDERS


def voice_for(engine: str, language: str, gender: str | None = None) -> Voice:
    """The engine voice for a tts block's language and gender; MediaError if unknown."""
    lang = canonical(language)
    if lang not in LANGUAGES:
        raise MediaError(f"unknown TTS language {language!r}", "tts.language")
    espeak_voice, gtts_lang, tld = LANGUAGES[lang]
    if engine == "espeak":
        variant = ""
        if gender:
            g = gender.strip().upper()
            if g not in GENDERS:
                raise MediaError(f"unknown TTS gender {gender!r} (MALE or FEMALE)", "tts.gender")
            variant = GENDERS[g]
        return Voice("espeak", espeak_voice + variant)
    if engine == "gtts":
        return Voice("gtts", f"{gtts_lang}@{tld}")
    raise MediaError(f"unknown TTS engine {engine!r}", "tts.engine")
