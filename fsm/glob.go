package fsm

// Match reports whether s matches the glob pattern with Redis's rules
// (KEYS, SCAN MATCH): * ? [abc] [^a] [a-z] and \ to escape. It is a port of
// Redis's stringmatchlen, quirks included:
//
//   - an empty s matches only the empty pattern (not even "*"; KEYS and
//     SCAN treat the pattern "*" on its own as "everything" before calling
//     this);
//   - a '-' right after a class character is a range even when the next
//     character is ']', so "[a-]" is the range ']'..'a' and the class goes on;
//   - an unterminated class ("[ab") ends with the pattern;
//   - ranges compare bytes as signed chars, as Redis does on x86 and most
//     builds: "[a-\xff]" is the range -1..97, so it takes "\x00" but not "b";
//   - nesting of '*' beyond 1000 levels never matches.
func Match(pattern, s []byte) bool {
	skipLonger := false
	return matchGlob(pattern, s, &skipLonger, 0)
}

// matchGlob is stringmatchlen_impl. skipLonger is set once the rest of the
// pattern after a '*' failed against every suffix: no earlier '*' can then
// succeed by eating more, which keeps patterns like "*a*a*a*b" linear-ish.
func matchGlob(p, s []byte, skipLonger *bool, nesting int) bool {
	if nesting > 1000 { // protection against abusive patterns, as Redis
		return false
	}
	for len(p) > 0 && len(s) > 0 {
		consumed := true // whether the pattern character at p[0] is still to be stepped over
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if matchGlob(p[1:], s, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			match := false
			for {
				if len(p) >= 2 && p[0] == '\\' {
					p = p[1:]
					if p[0] == s[0] {
						match = true
					}
				} else if len(p) == 0 {
					consumed = false // unterminated class: the pattern is used up
					break
				} else if p[0] == ']' {
					break
				} else if len(p) >= 3 && p[1] == '-' {
					// Redis compares C chars, signed on the platforms it
					// is built for: bytes >= 0x80 sort below 0x00.
					lo, hi, ch := int8(p[0]), int8(p[2]), int8(s[0])
					if lo > hi {
						lo, hi = hi, lo
					}
					p = p[2:]
					if ch >= lo && ch <= hi {
						match = true
					}
				} else if p[0] == s[0] {
					match = true
				}
				p = p[1:]
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		if consumed {
			p = p[1:]
		}
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}
