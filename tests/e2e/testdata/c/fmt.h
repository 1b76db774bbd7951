void fmt_line(const char *what, int value);
