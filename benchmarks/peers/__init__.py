"""The serving systems `diffstream bench peers` compares diffstream with, one module each.

Each is written the way its framework's documentation recommends, batches with the
framework's own feature, and calls the same diffstream engine (``common.Model``) with the
model, size and steps the bench chose (``DIFFSTREAM_ENGINE__*``, as every role reads them).
"""
