"""Words, filler and keyword candidates taken from the user's own text.

The tiny default LLM hallucinates and the plain word counter keeps filler (DESIGN.md section 6,
keyword calibration), so keywords are grounded here: candidates come from what the user wrote
and the emoji they used, weighted by sentiment and recency, and filler never passes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

WORD_RE = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)

STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't
    doing don't down during each few for from further had hadn't has hasn't have haven't having he
    he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if
    in into is isn't it it's its itself let's me more most mustn't my myself no nor not of off on
    once only or other ought our ours ourselves out over own same shan't she she'd she'll she's
    should shouldn't so some such than that that's the their theirs them themselves then there
    there's these they they'd they'll they're they've this those through to too under until up
    very was wasn't we we'd we'll we're we've were weren't what what's when when's where where's
    which while who who's whom why why's with won't would wouldn't you you'd you'll you're you've
    your yours yourself yourselves im ive dont cant wont thats u ur yeah yes ok okay oh hey hi
    hello lol haha hmm please thanks thank just also really still even much many lot lots
    """.split()
) | frozenset(
    # Function words of the languages chat most often switches into (es, fr, de, pt, it).
    """
    el la los las un una unos unas de del al y o que en mi mis me te se lo le por para con sin es
    son está estoy estás muy más pero como desde hasta cuando todo todos nuevo nueva tan ya jaja
    le les une des du et ou qui je tu il elle nous vous ils elles mon ma mes ton ta tes son sa
    ses est suis sont pas très mais avec pour dans sur ce cette ça j'ai c'est fait tellement
    surtout soir der die das ein eine und oder ich du er sie wir ihr mein meine ist bin sind
    nicht sehr aber mit für auf zu von auch noch o os as um uma eu meu minha é são não muito
    com em il lo gli di che io sono ma per anche molto
    """.split()
)

# Words that are frequent in chat but say nothing about visual taste (calibration: "went",
# "huge", "she" were 21 % of a word counter's keywords).
FILLER = frozenset(
    """
    thing things stuff something anything everything nothing one ones way ways time times day days
    today tomorrow yesterday week weekend night morning evening year years bit kind sort type
    went go goes going gone get gets got getting make makes made making take takes took see saw
    seen look looks looked looking want wants wanted need needs needed know knows knew think
    thinks thought say says said tell told come came comes feel feels felt like likes liked
    love loves loved enjoy enjoys enjoyed prefer prefers preferred favorite favourite favourites
    favorites really actually maybe probably pretty quite huge big small little good great nice
    cool awesome amazing bad best better worse worst new old first last next other another same
    different every always never sometimes often usually friend friends people person guy guys
    man woman someone everyone anyone sure right well now then ago soon later again back
    user assistant sticker stickers image images picture pictures emoji draw drew drawing
    asked ask asks asking liked disliked used use uses using said
    forever lil rn tbh ngl omg smh af fr gonna wanna gotta kinda sorta lowkey highkey literally
    honestly basically totally definitely absolutely seriously genuinely finally already almost
    insane unreal crazy wild hits hit different legit tho though okay yay nope nah idk imo irl
    lmao lmfao xd pls plz thx ty tysm omw brb gn gm afk bruh bro dude guy girl mate fam
    finished finish finishing started start starting tried try trying keep keeps kept put puts
    let lets bought buy buys got found find finds gave give gives call called calls watch watched
    watching play played playing read try start stop stopped wait waiting hope hoped wish
    wished guess guessed mean meant means seem seems seemed saying says talk talking talked
    doing done does did had has have having being been become became feel feeling
    help helps helped show shows showed shown send sent bring brought leave left move moved
    lately recently tonight tmrw tmr tomorrow everyday every single whole entire full half
    true false real fake okay fine sure enough less least more most much many few several
    one two three four five six seven eight nine ten eleven twelve twenty hundred thousand
    million once twice dozen
    forgot forget forgets explain explains explained broke broken drive drives driving drink drinks
    drank eat eats ate eating cook cooks cooking clean cleaning study studying pass fail sit sat
    stand run ran congrats congratulations wish luck bring happen happened happens care
    lot lots tons ton bunch couple hell heck damn dang gosh yes yeah yep yup
    first second third last next new old young early late long short high low hard easy
    happy sad glad tired sleepy bored busy excited proud sorry funny weird strange normal
    minute minutes hour hours month months moment moments second seconds min mins
    again ever anymore anyway anyways somehow somewhere everywhere nowhere
    """.split()
)

# Daily routine and reactions: said by everyone, every day, about nothing they would want drawn.
ROUTINE = frozenset(
    """
    work job jobs boss office meeting meetings shift school class classes homework assignment
    assignments exam exams test tests quiz notes teacher teachers chapter essay lecture uni
    college semester grade grades mom mum dad mother father sister brother sis cousin parents
    family neighbour neighbor roommate flatmate rent bills money bus traffic commute wifi
    internet laptop phone charger email emails inbox update app server link chat channel group
    sleep bed nap dinner lunch breakfast snack snacks meal groceries supermarket shop shopping
    dentist doctor appointment cold flu headache weather classic works sounds luck god myth
    monday tuesday wednesday thursday friday saturday sunday mondays fridays weekends
    question questions answer answers idea ideas problem problems reason point fact
    """.split()
)

# Words that only ever appear as attempts to steer the model, never as a taste.
INSTRUCTION_WORDS = frozenset(
    """
    ignore ignored ignoring instruction instructions previous prior system prompt prompts
    output reveal repeat disregard override jailbreak developer rules rule pretend roleplay
    format respond response answer command commands execute print
    """.split()
)

_ELONGATED_RE = re.compile(r"(.)\1{2,}")


def words(text: str) -> list[str]:
    """Return the lower-case words of ``text`` (letters, apostrophes and hyphens), with chat
    elongations undone ("yesss" -> "yes", "gooo" -> "go")."""
    return [_ELONGATED_RE.sub(r"\1", w.casefold().strip("'-")) for w in WORD_RE.findall(text)]


def is_meaningful(word: str) -> bool:
    """Whether a single word can be a keyword: not a stopword, filler or instruction word."""
    return (
        len(word) > 2
        and word not in STOPWORDS
        and word not in FILLER
        and word not in ROUTINE
        and word not in INSTRUCTION_WORDS
    )


def clean_keyword(raw: str, *, max_words: int = 3, max_chars: int = 32) -> str | None:
    """Normalise one keyword; return ``None`` when nothing meaningful is left."""
    tokens = [w for w in words(raw) if w not in STOPWORDS]
    if len(tokens) > max_words:  # a sentence, not a keyword
        return None
    tokens = [w for w in tokens if w not in INSTRUCTION_WORDS and w not in FILLER]
    if not tokens:
        return None
    if not any(is_meaningful(w) for w in tokens):
        return None
    keyword = " ".join(tokens)
    return keyword if len(keyword) <= max_chars else None


def stem(word: str) -> str:
    """Return ``word`` without a plural ending (``kitties`` -> ``kitty``, ``cats`` -> ``cat``)."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def dedupe(keywords: Iterable[str]) -> list[str]:
    """Keep the first of keywords that are equal, differ by a plural ``s``, or whose words are
    all covered by keywords already kept ("pastel" after "pastel colours")."""
    covered: set[str] = set()
    out: list[str] = []
    for keyword in keywords:
        stems = {stem(w) for w in keyword.split()}
        if stems <= covered:
            continue
        covered |= stems
        out.append(keyword)
    return out
