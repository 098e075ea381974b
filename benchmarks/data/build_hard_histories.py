"""Write keyword_hard.json: the hard keyword benchmark (hand-written Discord-like histories).

Every line below was written by hand. The 3-line histories are complete as written; the 20- and
200-line ones put their own hand-written lines at fixed, spread positions among chit-chat lines
from the shared hand-written pool (drawn with a fixed seed, never a line that names one of the
history's interests), the way real interests sit among small talk. Run once; the JSON is what
the benchmark reads:  python benchmarks/data/build_hard_histories.py
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

OUT = Path(__file__).with_name("keyword_hard.json")

# Words that say nothing about visual taste, for the benchmark's filler count (written for the
# benchmark, independently of the extractor's own word lists).
FILLER = """
a an the and or but so to of in on at for with from by about into over after before up down out
i me my mine you your we our they them their he him his she her it its this that these those
is am are was were be been being do does did done have has had having will would can could
should shall may might must not no yes yeah yep nope ok okay oh hey hi hello bye lol lmao haha
hahaha omg wtf tbh ngl idk imo irl rn pls plz thx ty gn gm brb afk fr bro dude guys girl man
like love hate want need know think feel say said tell told get got go went going gone come came
make made take took see saw look looking watch watched play played try tried use used find found
give gave keep let put start stop wait work works worked thing things stuff something anything
everything nothing one ones way time times day days today tonight tomorrow yesterday week weekend
night morning evening year years month hour minute second bit lot lots kind sort
good great nice cool awesome amazing bad best better worse worst big huge small little new old
first last next other another same different every always never sometimes often really very
actually literally basically honestly maybe probably pretty quite super still even just also
again back now then soon later ago here there where when what why how who which
people person friend friends someone everyone anyone mom dad sis bro
fun funny cute sad happy tired sleepy bored busy late early sure right well real true
lol xd ugh yay wow hmm meh nah yo sup
""".split()

# Hand-written small talk, shared by the 20- and 200-line histories.
POOL = """
lol
lmao
gn everyone
gm
brb
same
fr fr
ok
who's on tonight?
anyone up?
im so tired rn
ugh mondays
my bus was late again, 20 mins in the cold
forgot my charger at work smh
does anyone know when the exam results come out
omg the wifi is dying again
what are you guys having for dinner
i'm literally starving
pasta again lol, student life
lmaooo that's so true
💀💀💀
😭😭 why is that so funny
i can't believe it's already december
did u finish the homework
nope, doing it at 3am like a legend
my boss scheduled a meeting at 5pm on a friday. why
who wants to play later?
i'm down
can't tonight, family dinner
sorry was afk
wait what happened
the group chat is so quiet today
need coffee... no wait i need sleep
my phone fell in the sink lmao
rip
it still works somehow
that's crazy
no wayyy
yesss
congrats!!
happy birthday!!! 🎂
ty ty
the printer at school is broken AGAIN
my neighbour is drilling at 8am on a sunday
I hate mondays with a passion
not a fan of mornings tbh
idk man
maybe tomorrow?
sure, what time
like 8?
works for me
i'll bring snacks
does anyone have the notes from tuesday
i sent them in the other channel
thank uuu
np
the new update broke everything
classic
lol classic
my cousin is visiting this weekend
gotta clean my room before mom sees it
it's raining so hard right now
and i left my window open. great
i keep forgetting to drink water
hydrate or diedrate
lmfao
who took the last slice
not me 👀
definitely you
i have a dentist appointment tmrw, wish me luck
good luck!!
how was the dentist
no cavities 😎
let's gooo
i'm so behind on emails
inbox zero is a myth
my sister borrowed my hoodie and never gave it back
classic sibling behaviour
ok i'm going to bed for real this time
you said that an hour ago
lol
i think i'm getting a cold
drink tea and sleep
what's everyone doing this weekend
nothing, absolutely nothing, and i'm excited about it
same honestly
is it just me or is the server lagging
it's you
rude
haha
my laptop fan sounds like a jet engine
turn it off and on again
did that, now it sounds like two jet engines
💀
can someone explain the assignment
we have to write 2 pages on anything basically
anything??
within reason lol
my train got cancelled so i'm working from home
w
big w
L
that's an L
hey does anyone know a good place to get a haircut
i just cut it myself lol
that explains a lot
😂😂😂
omg stop
ok ok
my mom keeps calling me during class
tell her you're busy
she doesn't care lol
i need a vacation
don't we all
back from the supermarket, forgot half the list
classic
why is rent so expensive
don't get me started
the heating in my flat is broken
wear three jumpers
already wearing two
my plant is dying and i don't know why
too much water probably
or too little
one of those
what time is it there
almost midnight
go to sleep
no u
finally friday
what a week
i deleted my whole essay by accident
nooo
ctrl z!!!
it worked omg thank god
saved
whos got the link
check pinned
ty
i'm stuck in traffic
order pizza, no cooking tonight
lowkey that's a good idea
highkey*
anyone watching the match tonight
nah i don't really follow it
same tbh
it's so cold today
my hands are frozen
the cafeteria food was actually edible today
miracles happen
lol what
🙏
👀
ok that's enough internet for today
see ya
later
night night
guys i passed my driving test!!!
LETS GOOO
congrats!!!! 🎉
tysm 😭
who's driving us to the thing then
not it
😂
i spilled juice all over my desk
everything is sticky now
gross lol
can't wait for the holidays
two more weeks
then exams lol
don't remind me
i'm procrastinating so hard rn
same, i'm reorganizing my desktop icons
productive
anyone want to study together on call later
yes pls
im in
what chapter are we on
7 i think
no it's 8
whatever, both
my internet provider is the worst
switch then
contract lol
rip
""".strip().splitlines()

# (id, interests with synonyms, negated things, own lines). Interest 0 of each list is its name.
SHORT = [
    (
        "s01",
        [
            ["cats", "cat", "kitty", "kitties", "kitten", "kittens", "cat face"],
            ["coffee", "latte", "espresso", "hot beverage", "cappuccino"],
            ["rain", "rainy", "raining", "cloud with rain", "rainy days"],
        ],
        [],
        [
            "my two kitties are asleep on my keyboard again 😹",
            "☕☕ third one today, dont judge",
            "rainy days >>> sunny days, fight me 🌧️",
        ],
    ),
    (
        "s02",
        [
            ["anime", "manga", "ghibli", "studio ghibli", "totoro"],
            ["line art", "lineart", "outlines", "outline", "line", "lines", "ink"],
            ["black", "monochrome", "black outlines", "black and white"],
        ],
        ["clowns"],
        [
            "my favourite anime is totoro, studio ghibli forever",
            "line art forever, thin black outlines",
            "i hate clowns tho, no clowns pls",
        ],
    ),
    (
        "s03",
        [
            ["frogs", "frog", "frog face", "toad", "toads"],
            ["mushrooms", "mushroom", "shrooms", "fungi", "toadstool"],
            ["forest", "woods", "woodland", "trees"],
        ],
        ["spiders"],
        [
            "🐸🐸🐸",
            "found the cutest lil shrooms on my walk thru the woods",
            "hate spiders tho, one was on my shoe ugh",
        ],
    ),
    (
        "s04",
        [
            ["space", "galaxy", "galaxies", "milky way", "cosmos", "astronomy", "nebula"],
            ["robots", "robot", "robot arm", "android", "mech", "robotics"],
            ["purple", "violet", "lilac"],
        ],
        ["pink"],
        [
            "the milky way pic from last night omg 🌌",
            "building a lil robot arm for school, its so fun",
            "purple everything pls. not pink, never pink",
        ],
    ),
    (
        "s05",
        [
            ["dogs", "dog", "pupper", "puppy", "doggo", "dog face"],
            ["beach", "sea", "ocean", "water wave", "seaside", "waves"],
            ["ice cream", "gelato", "soft ice cream", "icecream"],
        ],
        [],
        [
            "my pupper saw the sea for the first time 🐶🌊",
            "beach trip was 10/10 would do again",
            "gelato every single day lol 🍦",
        ],
    ),
    (
        "s06",
        [
            ["cats", "gato", "gatos", "cat", "kitty"],
            ["guitar", "guitarra", "guitars"],
            ["sunsets", "sunset", "atardecer", "atardeceres", "sunset over buildings"],
        ],
        [],
        [
            "me encantan los gatos 🐈",
            "been practicing guitarra all week, my fingers hurt",
            "atardeceres desde mi balcón 🌇 best part of the day",
        ],
    ),
    (
        "s07",
        [
            ["dinosaurs", "dinosaur", "dino", "dinos", "t-rex", "rex", "trex"],
            ["volcanoes", "volcano", "lava", "eruption"],
            ["green", "forest green", "emerald"],
        ],
        [],
        [
            "t-rex > every other dino, not up for debate 🦖",
            "volcano documentary had me hooked",
            "painted my room a deep forest green",
        ],
    ),
    (
        "s08",
        [
            ["crochet", "crocheting", "knitting", "yarn", "ball of yarn", "amigurumi"],
            ["sheep", "lamb", "lambs"],
            ["cozy", "cosy", "sweater", "sweaters", "wool socks", "knitwear", "wool"],
        ],
        ["horror movies", "horror"],
        [
            "finished crocheting a lil sheep amigurumi 🧶",
            "wool socks and a fat sweater, peak cozy",
            "I can't stand horror movies, no thanks",
        ],
    ),
    (
        "s09",
        [
            ["skateboarding", "skateboard", "kickflip", "skate", "skating", "skatepark"],
            ["graffiti", "mural", "murals", "spray paint", "street art"],
            ["hip hop", "rap", "boom bap", "beats", "hiphop"],
        ],
        [],
        [
            "landed my first kickflip today!!! 🛹",
            "the new mural under the bridge is insane, spray paint everywhere",
            "boom bap beats on repeat",
        ],
    ),
    (
        "s10",
        [
            [
                "tea",
                "thé",
                "the vert",
                "thé vert",
                "matcha",
                "teacup without handle",
                "green tea",
                "teacup",
            ],
            ["moon", "crescent moon", "lunar", "moonlight"],
            ["books", "book", "reading", "novel", "novels"],
        ],
        [],
        [
            "j'adore le thé vert, surtout le soir 🍵",
            "🌙✨",
            "reading by lamplight rn, such a good book",
        ],
    ),
    (
        "s11",
        [
            ["pixel art", "pixel", "pixels", "8-bit", "sprite", "sprites"],
            ["retro games", "retro", "snes", "console", "arcade", "video game", "old games"],
            ["neon", "neon signs", "neon lights"],
        ],
        [],
        [
            "pixel art of my oc, 32x32, took forever",
            "snes > switch, the old stuff just hits",
            "neon signs in the rain 😍",
        ],
    ),
    (
        "s12",
        [
            ["horses", "horse", "mare", "pony", "riding", "horse face", "horseback"],
            ["autumn", "fall", "fallen leaf", "maple leaf", "leaves"],
            ["countryside", "fields", "farm", "nature", "meadow"],
        ],
        ["gym"],
        [
            "went riding this morning, my mare was an angel 🐴",
            "🍂🍁 best season",
            "countryside walks > the gym, I hate the gym",
        ],
    ),
    (
        "s13",
        [
            ["sushi", "sashimi", "nigiri"],
            ["japan", "tokyo", "kyoto", "japanese"],
            ["cherry blossoms", "cherry blossom", "sakura", "blossom", "blossoms"],
        ],
        [],
        [
            "sushi date tonight 🍣",
            "saving up for tokyo next year",
            "sakura season pics on my lock screen 🌸",
        ],
    ),
    (
        "s14",
        [
            ["drums", "drum", "drumming", "drum with drumsticks", "percussion", "drummer"],
            ["leather jacket", "leather", "jacket"],
            ["concerts", "concert", "gig", "gigs", "live music"],
        ],
        ["country music", "country"],
        [
            "drums in that new song are unreal 🥁",
            "wearing my leather jacket to the gig",
            "honestly not a fan of country music",
        ],
    ),
    (
        "s15",
        [
            ["owls", "owl"],
            ["stargazing", "stars", "star", "constellations", "astronomy"],
            ["night", "night sky", "nighttime", "midnight"],
        ],
        ["sports"],
        [
            "🦉 hoo hoo",
            "stargazing from the roof again",
            "not into sports at all lol, give me the night sky",
        ],
    ),
    (
        "s16",
        [
            ["baking", "bake", "baked", "cake", "cakes", "shortcake", "pastry"],
            ["strawberries", "strawberry"],
            ["pink", "pastel pink", "pastel"],
        ],
        ["bees"],
        [
            "baked a strawberry shortcake 🍓🍰",
            "everything in my room is pastel pink",
            "kinda scared of bees ngl",
        ],
    ),
]

MEDIUM = [
    (
        "m01",
        [
            ["dragons", "dragon", "wyvern", "drake"],
            [
                "fantasy",
                "medieval",
                "castle",
                "european castle",
                "knights",
                "swords",
                "crossed swords",
            ],
            ["gold", "golden", "gilded"],
        ],
        ["zombies"],
        [
            "finally finished the dragon book series, ending wrecked me",
            "anyone played elden ring? the castles in that game 😍",
            "i want a gold frame for my poster",
            "🐉",
            "zombies are so overdone, hate zombie stuff",
            "knights and swords are my whole personality lately ⚔️",
            "golden hour pics of my minis",
            "painting a lil wyvern mini rn",
        ],
    ),
    (
        "m02",
        [
            ["cats", "cat", "kitty", "kitties", "kitten", "kittens", "cat face", "gato"],
            ["plants", "plant", "houseplants", "monstera", "succulents", "herb"],
            ["watercolor", "watercolour", "watercolors", "painting", "artist palette"],
        ],
        ["snakes"],
        [
            "my kitten just knocked over my monstera 😾",
            "repotting all my houseplants today 🌿",
            "trying watercolour for the first time, it's so hard but so pretty",
            "why does my cat only love me at 4am",
            "🎨",
            "snakes? absolutely not. nope.",
            "new succulent haul!! 🌵",
        ],
    ),
    (
        "m03",
        [
            ["ocean", "sea", "water wave", "waves", "marine"],
            ["sharks", "shark", "hammerhead"],
            ["diving", "scuba", "snorkeling", "scuba diving", "dive", "reef"],
        ],
        ["clowns"],
        [
            "just got my scuba license!!!",
            "🦈🦈",
            "the reef was unreal, so many colours",
            "clowns freak me out, like genuinely",
            "shark week is my christmas",
            "🌊",
            "next dive trip: egypt. i'm saving every cent",
        ],
    ),
    (
        "m04",
        [
            ["witches", "witch", "witchy", "mage", "magic", "crystal ball", "spells"],
            ["halloween", "jack-o-lantern", "pumpkins", "pumpkin", "spooky"],
            ["candles", "candle", "candlelight"],
        ],
        ["christmas music"],
        [
            "decorating for halloween already, no shame 🎃",
            "new witchy candles smell like pine and smoke",
            "🔮🧙",
            "i refuse to listen to christmas music before december, hate it",
            "pumpkin carving party saturday??",
            "candlelight + rain sounds = heaven",
            "my coven (friend group) is doing a spell jar night lol",
        ],
    ),
    (
        "m05",
        [
            ["basketball", "basketball and hoop", "hoops", "nba", "dunk"],
            ["sneakers", "sneaker", "kicks", "jordans", "shoes"],
            ["hip hop", "rap", "beats", "headphone", "headphones"],
        ],
        ["jazz"],
        [
            "nba finals tonight who y'all got",
            "copped new kicks, jordans 4s, had to 😤",
            "🏀🏀🏀",
            "rap on the way to practice always",
            "my dad keeps playing jazz in the car, can't stand it",
            "🎧",
            "sneaker cleaning sunday",
        ],
    ),
    (
        "m06",
        [
            [
                "baking",
                "bake",
                "baked",
                "croissant",
                "croissants",
                "pastry",
                "pastries",
                "bread",
                "sourdough",
            ],
            ["paris", "france", "french", "eiffel tower"],
            ["flowers", "flower", "peonies", "roses", "hibiscus", "bouquet"],
        ],
        ["mushrooms"],
        [
            "my sourdough finally rose!!",
            "🥐🥐",
            "je suis tellement fatiguée ce soir, mais j'ai fait des croissants",
            "paris in spring is my dream trip",
            "mushrooms are disgusting don't @ me",
            "got myself peonies from the market 💐",
            "🌺",
        ],
    ),
    (
        "m07",
        [
            [
                "space",
                "rocket",
                "rockets",
                "galaxy",
                "astronaut",
                "astronauts",
                "nasa",
                "planets",
                "mars",
            ],
            ["aliens", "alien", "alien monster", "ufo", "ufos"],
            ["synthwave", "retrowave", "80s", "synth", "neon"],
        ],
        ["country music"],
        [
            "the rocket launch stream was insane 🚀",
            "👾👾",
            "if aliens exist they're avoiding us for a reason lol",
            "synthwave playlist on loop while i code",
            "country music is not music, sorry",
            "mars rover pics are my new wallpaper",
            "ufo documentary at 2am, peak",
        ],
    ),
    (
        "m08",
        [
            ["turtles", "turtle", "tortoise", "tortoises"],
            ["aquarium", "fish", "tropical fish", "fish tank", "goldfish"],
            ["blue", "teal", "turquoise", "aqua"],
        ],
        ["dogs"],
        [
            "my tortoise ate a whole strawberry today, proud mom moment",
            "🐢",
            "new fish tank setup is done 🐠🐠",
            "honestly don't like dogs that much, too loud",
            "teal everything, my walls, my phone case",
            "aquarium date this weekend!",
        ],
    ),
    (
        "m09",
        [
            ["wolves", "wolf", "wolf face", "werewolf", "werewolves"],
            ["snow", "snowflake", "winter", "snowy", "snow capped mountain"],
            ["mountains", "mountain", "hiking", "alps", "peaks"],
        ],
        ["beach"],
        [
            "🐺🐺🐺",
            "heard wolves howling on the camping trip, chills",
            "snow day!! ❄️",
            "hiking up the peaks next summer, who's coming",
            "beach holidays are boring, sand everywhere, no thanks",
            "🏔️",
        ],
    ),
    (
        "m10",
        [
            ["ramen", "noodles", "steaming bowl", "udon", "pho"],
            ["anime", "manga", "naruto", "one piece"],
            ["pandas", "panda", "panda face", "red panda"],
        ],
        ["spicy food"],
        [
            "ramen for the 4th time this week 🍜",
            "catching up on one piece, i'm at episode 600",
            "🐼",
            "red pandas are literally the cutest animal",
            "can't do spicy food, my tongue dies",
            "manga haul from the con 😍",
        ],
    ),
    (
        "m11",
        [
            [
                "trains",
                "train",
                "steam locomotive",
                "railway",
                "railways",
                "locomotive",
                "steam train",
            ],
            ["maps", "map", "world map", "cartography", "atlas"],
            ["vintage", "retro", "antique", "old-fashioned"],
        ],
        ["planes"],
        [
            "took a steam train ride through the valley 🚂",
            "collecting old maps from flea markets",
            "🗺️",
            "vintage posters of railways are my weakness",
            "planes make me anxious, i'd rather take the train",
            "antique shop haul: a brass compass",
        ],
    ),
    (
        "m12",
        [
            ["butterflies", "butterfly", "moths", "moth"],
            ["sunflowers", "sunflower", "daisies", "wildflowers"],
            ["yellow", "golden", "mustard"],
        ],
        ["wasps"],
        [
            "🦋",
            "the butterfly garden at the zoo was magical",
            "sunflower field pics!! 🌻",
            "wasps ruined our picnic, i hate wasps",
            "painted my nails mustard yellow",
            "wildflowers everywhere on the hike",
        ],
    ),
    (
        "m13",
        [
            ["piano", "musical keyboard", "keyboard", "chopin", "pianist"],
            ["rain", "rainy", "raining", "cloud with rain", "thunderstorm", "storms"],
            ["books", "book", "reading", "novel", "novels", "library", "libro", "libros"],
        ],
        ["techno"],
        [
            "practising chopin every evening 🎹",
            "rain on the window + a good novel = perfect sunday",
            "leyendo un libro nuevo, me encanta",
            "techno gives me a headache, not for me",
            "thunderstorm tonight ⛈️",
            "library card renewed, let's go",
        ],
    ),
    (
        "m14",
        [
            ["cars", "car", "racing", "race car", "drift", "jdm", "supra"],
            ["red", "crimson", "scarlet"],
            ["motorbikes", "motorbike", "motorcycle", "motorcycles", "bikes"],
        ],
        ["rollercoasters"],
        [
            "watched the race, that last lap omg 🏎️",
            "my dream car is a red supra",
            "took the motorbike out for a ride, perfect weather",
            "rollercoasters? hell no, i hate them",
            "crimson paint job on my helmet",
        ],
    ),
]

LONG = [
    (
        "l01",
        [
            ["cats", "cat", "kitty", "kitties", "kitten", "kittens", "cat face", "gatos"],
            ["coffee", "latte", "espresso", "hot beverage", "cappuccino", "cold brew"],
            ["line art", "lineart", "outlines", "ink", "inking", "sketch", "sketching", "pencil"],
        ],
        ["clowns", "horror"],
        [
            "my two kitties fighting over a box again 😹",
            "☕",
            "oat latte and a sketchbook, my happy place",
            "i hate clowns and horror stuff, no thanks",
            "inking my sketches with a fineliner, thin black lines only",
            "the cat sat on my drawing, of course",
            "cold brew season",
            "✏️",
            "mis gatos son unos dramáticos jaja",
        ],
    ),
    (
        "l02",
        [
            ["dinosaurs", "dinosaur", "dino", "dinos", "t-rex", "sauropod", "fossils", "fossil"],
            ["lego", "legos", "bricks", "minifigs"],
            ["museums", "museum", "natural history", "exhibit"],
        ],
        ["spiders"],
        [
            "🦖",
            "built the big lego castle set in one night lol",
            "natural history museum trip, they have a new sauropod skeleton",
            "spiders can stay outside thank u",
            "dino documentaries are my comfort shows",
            "more minifigs arrived 📦",
            "the fossil exhibit was so good",
        ],
    ),
    (
        "l03",
        [
            ["frogs", "frog", "frog face", "toad", "toads"],
            ["mushrooms", "mushroom", "shrooms", "fungi", "toadstool"],
            ["cottagecore", "cottage", "meadow", "countryside", "picnic"],
        ],
        ["city"],
        [
            "🐸",
            "🍄🍄",
            "the big city is too loud, i hate it",
            "cottagecore picnic this saturday, bring jam",
            "saw a toad in the garden!! he's huge",
            "found fungi on the old log",
            "dreaming of a cottage in a meadow",
        ],
    ),
    (
        "l04",
        [
            [
                "space",
                "galaxy",
                "galaxies",
                "milky way",
                "nebula",
                "cosmos",
                "astronomy",
                "planets",
            ],
            ["robots", "robot", "mech", "mechs", "android", "androids", "gundam"],
            ["blue", "cyan", "navy", "cobalt"],
        ],
        ["clowns"],
        [
            "🌌",
            "building a gundam model kit, 40 hours in",
            "nebula photos from the new telescope are insane",
            "clowns are cursed, don't send me that",
            "cobalt blue is the best colour and i won't debate it",
            "mech designs in that show are peak",
        ],
    ),
    (
        "l05",
        [
            ["penguins", "penguin"],
            ["snow", "snowflake", "winter", "snowy", "ice"],
            ["hot chocolate", "cocoa", "chocolate"],
        ],
        ["summer"],
        [
            "🐧",
            "penguin documentary = instant serotonin",
            "snow finally!!! ❄️",
            "summer is the worst season, too hot",
            "hot chocolate with marshmallows, every night",
            "cocoa again 😌",
        ],
    ),
    (
        "l06",
        [
            ["foxes", "fox", "fox face"],
            ["autumn", "fall", "fallen leaf", "maple leaf", "leaves"],
            ["orange", "amber", "rust", "terracotta"],
        ],
        ["wasps"],
        [
            "🦊",
            "a fox ran across the road on my way home!!",
            "🍂",
            "rust and terracotta sweaters for fall",
            "wasps everywhere at lunch, hate those things",
            "fall is my season, leaves crunching, cozy everything",
        ],
    ),
    (
        "l07",
        [
            ["ghosts", "ghost", "spooky", "haunted", "paranormal"],
            ["skulls", "skull", "skeleton", "skeletons"],
            ["purple", "violet", "purple heart", "lilac"],
        ],
        ["spiders"],
        [
            "👻",
            "haunted house tour was amazing",
            "skeleton decorations up all year round in my room",
            "spiders no, ghosts yes",
            "💜💜",
            "paranormal podcasts before bed, bad idea, love it",
            "violet hair dye next week",
        ],
    ),
    (
        "l08",
        [
            ["sushi", "sashimi", "nigiri"],
            ["japan", "tokyo", "kyoto", "japanese", "osaka"],
            ["cherry blossoms", "cherry blossom", "sakura", "blossom", "blossoms"],
        ],
        ["natto"],
        [
            "🍣",
            "kyoto trip planning spreadsheet v7",
            "sakura forecast says early april",
            "natto is a crime, sorry japan",
            "salmon nigiri is elite",
            "🌸",
        ],
    ),
    (
        "l09",
        [
            ["guitar", "guitars", "guitarra", "fender", "strat"],
            ["rock", "punk", "metal", "grunge"],
            ["skateboarding", "skateboard", "kickflip", "skate", "skatepark"],
        ],
        ["pop music"],
        [
            "🎸",
            "new strings on the strat, sounds so good",
            "punk show friday!!",
            "not a fan of pop music at all",
            "🛹",
            "skatepark after school again",
            "grunge playlist for the drive",
        ],
    ),
    (
        "l10",
        [
            ["bees", "bee", "honeybee", "honey", "beekeeping"],
            ["gardening", "garden", "gardens", "vegetable garden", "allotment"],
            ["sunflowers", "sunflower", "flowers", "flower"],
        ],
        ["wasps"],
        [
            "🐝",
            "first honey harvest from the hive!!",
            "allotment day, tomatoes are finally red",
            "i hate wasps, they're nothing like bees",
            "🌻",
            "the garden looks wild after the rain",
            "beekeeping suit arrived lol",
        ],
    ),
]


def _mentions(line: str, interests: list[list[str]]) -> bool:
    lowered = line.casefold()
    return any(
        re.search(rf"(?<!\w){re.escape(s.casefold())}", lowered)
        for group in interests
        for s in group
    )


def _fill(own: list[str], total: int, interests: list[list[str]], rng: random.Random) -> list[str]:
    pool = [line for line in POOL if not _mentions(line, interests)]
    chatter = rng.sample(pool, min(len(pool), total - len(own)))
    while len(chatter) < total - len(own):
        chatter.append(rng.choice(pool))
    # Own lines sit at spread positions, the first one not at the very start.
    step = total / len(own)
    slots = {int(step * i + step / 2): line for i, line in enumerate(own)}
    out, chat = [], iter(chatter)
    for position in range(total):
        out.append(slots[position] if position in slots else next(chat))
    return out


def main() -> None:
    rng = random.Random(11)
    histories = []
    for group, size, cases in (("3", 3, SHORT), ("20", 20, MEDIUM), ("200", 200, LONG)):
        for name, interests, negated, own in cases:
            messages = own if size == 3 else _fill(own, size, interests, rng)
            histories.append(
                {
                    "id": name,
                    "lines": group,
                    "interests": interests,
                    "negated": negated,
                    "messages": messages,
                }
            )
    OUT.write_text(
        json.dumps({"filler": FILLER, "histories": histories}, ensure_ascii=False, indent=1) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {len(histories)} histories to {OUT}")


if __name__ == "__main__":
    main()
