/*
 * fuzz_csv.c - libFuzzer target: arbitrary bytes as a CSV file.
 *
 * Through ct_csv_read (the file's size and line limits included); every
 * field of a parsed file is read back, and line numbers must not go down.
 */
#include <stdlib.h>
#include <string.h>

#include "ct_csv.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".csv");
    if (!path) return 0;
    ct_csv csv;
    ct_error err;
    if (ct_csv_read(path, &csv, &err) == CT_OK) {
        size_t total = 0;
        for (size_t r = 0; r < csv.nrows; r++) {
            for (size_t c = 0; c < csv.ncols; c++) total += strlen(ct_csv_cell(&csv, r, c));
            if (r && csv.line[r] <= csv.line[r - 1]) abort();
        }
        if (total > size) abort();   /* fields are never longer than the text */
        if (csv.ncols) (void)ct_csv_column(&csv, csv.header[0]);
        ct_csv_free(&csv);
    }
    unlink(path);
    return 0;
}
