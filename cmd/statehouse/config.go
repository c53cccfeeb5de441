package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// setting is one line of a config file: a flag's name and its value.
type setting struct {
	name, value string
	line        int
}

// readConfig reads a Redis-style config file: one "name value" a line,
// names as the flags' without their dashes (any case), blank lines and
// lines starting with # skipped, values quoted as redis.conf's are.
func readConfig(path string) ([]setting, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []setting
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.Trim(sc.Text(), " \t\r\n")
		if line == "" || line[0] == '#' {
			continue
		}
		args, err := splitConfigLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		name := strings.ToLower(args[0])
		if len(args) != 2 {
			return nil, fmt.Errorf("%s:%d: %s takes one value, not %d", path, n, name, len(args)-1)
		}
		out = append(out, setting{name: name, value: args[1], line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// splitConfigLine splits a line into words as Redis's sdssplitargs does for
// redis.conf: spaces separate; "double quotes" take \n \r \t \b \a \xHH and
// \<any> escapes; 'single quotes' take \' only; a closing quote must end
// the word.
func splitConfigLine(line string) ([]string, error) {
	var words []string
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return words, nil
		}
		var w []byte
		inDouble, inSingle := false, false
		for done := false; !done; {
			switch {
			case inDouble:
				switch {
				case i == len(line):
					return nil, errors.New("unbalanced quotes")
				case line[i] == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					w = append(w, unhex(line[i+2])<<4|unhex(line[i+3]))
					i += 3
				case line[i] == '\\' && i+1 < len(line):
					i++
					w = append(w, unescape(line[i]))
				case line[i] == '"':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, errors.New("closing quote must be followed by a space")
					}
					done = true
				default:
					w = append(w, line[i])
				}
			case inSingle:
				switch {
				case i == len(line):
					return nil, errors.New("unbalanced quotes")
				case line[i] == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					w = append(w, '\'')
				case line[i] == '\'':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, errors.New("closing quote must be followed by a space")
					}
					done = true
				default:
					w = append(w, line[i])
				}
			case i == len(line) || isSpace(line[i]):
				done = true
			case line[i] == '"':
				inDouble = true
			case line[i] == '\'':
				inSingle = true
			default:
				w = append(w, line[i])
			}
			if i < len(line) {
				i++
			}
		}
		words = append(words, string(w))
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'a':
		return '\a'
	}
	return c
}

// applyConfig sets, from the config file at path, each setting the command
// line and the environment left unset, and notes its line in origin. Every
// line is checked, used or not: an unknown name or a value its flag
// refuses is an error naming the file and the line.
func applyConfig(fs *flag.FlagSet, path string, set map[string]bool, origin map[string]string) error {
	settings, err := readConfig(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	check := newFlagSet(&options{}) // takes the values the command line overrides
	for _, s := range settings {
		at := fmt.Sprintf("%s:%d", path, s.line)
		f := fs.Lookup(s.name)
		if f == nil || commandOnly(s.name) {
			return fmt.Errorf("%s: unknown setting %q", at, s.name)
		}
		v := s.value
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			// redis.conf's booleans are yes and no.
			switch strings.ToLower(v) {
			case "yes":
				v = "true"
			case "no":
				v = "false"
			}
		}
		into := fs
		if set[s.name] {
			into = check
		}
		if err := into.Set(s.name, v); err != nil {
			return fmt.Errorf("%s: %s %q: %v", at, s.name, s.value, err)
		}
		if !set[s.name] {
			origin[s.name] = at + ": " + s.name
		}
	}
	return nil
}
