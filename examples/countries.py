# Chain of Code's running example: the program is real Python, except get_country(),
# which nobody wrote. The LM emulates each call; everything else runs natively.
cities = ["Paris", "Tokyo", "Rome", "Lyon", "Cairo", "Berlin", "Paris"]
countries = []
for city in cities:
    countries.append(get_country(city))
distinct = sorted(set(countries))
print("countries:", countries)
print("distinct countries:", len(distinct))

# A stub: its docstring is all the LM gets. The return annotation fixes the type.
def count_words(sentence: str) -> int:
    """Return how many words the sentence has."""
    ...

sentences = ["the red car", "a big brown dog barked", "hello"]
lengths = [count_words(s) for s in sentences]
print("words per sentence:", lengths, "total:", sum(lengths))
