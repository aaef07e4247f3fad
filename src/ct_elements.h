/*
 * ct_elements.h - chemical elements by atomic number: symbols, masses and radii.
 *
 *     int guessed;
 *     int z = ct_element_cif("Fe2+", 0, &guessed);      // 26
 *     printf("%s %.3f\n", ct_element_symbol(z), ct_element_mass(z));
 *
 * The table covers Z = 1..103 (H to Lr), the elements of the benchmark data
 * sets and of SMACT; anything else is "unknown".  The data are static and
 * read-only: there is nothing to free, and threads may share them.
 */
#ifndef CT_ELEMENTS_H
#define CT_ELEMENTS_H

#include <stddef.h>

/* The largest atomic number crystens knows. */
#define CT_MAX_Z 103

/* Return the symbol of element z ("Fe"), or NULL outside 1..CT_MAX_Z. */
const char *ct_element_symbol(int z);

/* The last element with a symbol: oganesson.  Those past CT_MAX_Z, Rf to
   Og, are known by name only. */
#define CT_NAMED_Z 118

/* Return the symbol of element z in 1..CT_NAMED_Z ("Og" for 118), or NULL:
   for tables, such as SMACT's, that reach past CT_MAX_Z. */
const char *ct_element_any_symbol(int z);

/* Return the standard atomic mass of element z in g/mol, NaN if unknown. */
double ct_element_mass(int z);

/* Return the atomic number of a symbol of len characters (case-insensitive:
   "fe", "FE", "Fe"), or 0 if it names no element. */
int ct_element_z(const char *symbol, size_t len);

/* Return the element of a CIF _atom_site_type_symbol ("Fe2+", "O2-"), read
   whole: its leading letters must be a symbol, so "Og" is oganesson, not
   oxygen.  With from_label, of an _atom_site_label instead, as pymatgen and
   other CIF readers do: "Fe1" and "O2A" are exact; otherwise the element is
   guessed, from the water names ("Wat5", "Ow" as O, "Hw" as H) or from the
   two leading letters or the first ("O-H3" as O, "CL3" as Cl), and
   *guessed is set so the reader can warn.  D (deuterium) is H, and
   guessed.  Returns Z in 1..CT_MAX_Z, -Z for a known element past
   CT_MAX_Z (Rf..Og, Uuo...), or 0 when no element is named. */
int ct_element_cif(const char *text, int from_label, int *guessed);

/* Return the atomic radius of element z in Å (pymatgen's atomic_radius,
   Slater's empirical radii), NaN if unknown (noble gases, Lr). */
double ct_element_atomic_radius(int z);

/* Return the van der Waals radius of element z in Å, NaN if unknown. */
double ct_element_vdw_radius(int z);

#endif
