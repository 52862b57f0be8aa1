"""A short neutral text: the evaluation gate's perplexity reference (it must not rise > 5%)."""

NEUTRAL_TEXT = (
    "The river begins in the hills north of the town, where several small streams meet in a "
    "shallow valley. In spring the water rises with melting snow, and the low fields along its "
    "banks are often flooded for a few weeks. Farmers in the area grow wheat, barley and "
    "potatoes, and many families keep a few cows or sheep. A stone bridge, built more than two "
    "hundred years ago, still carries the main road across the river. The town itself has a "
    "market square, a library, two schools and a small museum that describes the history of "
    "the region. Most people who live there work in farming, in the shops around the square, or "
    "in the larger city about forty kilometres to the south, which can be reached by train in "
    "less than an hour."
)
