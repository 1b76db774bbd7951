// More registrars: tree search, file tree walks, directory scans,
// program headers, exit handlers.
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <link.h>
#include <search.h>
#include <stdlib.h>
int cmp(const void *, const void *);
void action(const void *, VISIT, int);
int fn(const char *, const struct stat *, int);
int nfn(const char *, const struct stat *, int, struct FTW *);
int sel(const struct dirent *);
int dcmp(const struct dirent **, const struct dirent **);
int phdr(struct dl_phdr_info *, size_t, void *);
void leave(int, void *);
void quick(void);

void walk(void) {
  void *root = NULL;
  struct dirent **list;
  int k = 1;
  tsearch(&k, &root, cmp);
  twalk(root, action);
  ftw("/tmp", fn, 4);
  nftw("/tmp", nfn, 4, 0);
  scandir("/tmp", &list, sel, dcmp);
  dl_iterate_phdr(phdr, NULL);
  on_exit(leave, NULL);
  at_quick_exit(quick);
}
