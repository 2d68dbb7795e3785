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
def is_animal(word: str) -> bool:
    """Whether the word names an animal."""
    ...

# Python counts the words; the LM only says which words name animals.
sentences = ["the red car", "a big brown dog barked", "hello"]
lengths = [len(s.split()) for s in sentences]
animals = [w for s in sentences for w in s.split() if is_animal(w)]
print("words per sentence:", lengths, "total:", sum(lengths))
print("animals:", animals)
