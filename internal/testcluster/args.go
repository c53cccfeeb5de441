package testcluster

import (
	"fmt"
	"strconv"
)

// SplitArgs splits a script line into a command's arguments as redis-cli
// does: spaces separate, "double" quotes allow spaces and \n \r \t \xHH
// escapes, 'single' quotes are literal. The fsm's golden scripts and their
// replay over a socket both read lines with it.
func SplitArgs(line string) ([][]byte, error) {
	var args [][]byte
	i := 0
	for i < len(line) {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i >= len(line) {
			break
		}
		cur := []byte{}
		switch line[i] {
		case '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
					switch line[i] {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					case 'x':
						if i+3 > len(line) {
							return nil, fmt.Errorf("bad escape in %q", line)
						}
						v, err := strconv.ParseUint(line[i+1:i+3], 16, 8)
						if err != nil {
							return nil, fmt.Errorf("bad escape in %q", line)
						}
						cur = append(cur, byte(v))
						i += 2
					default:
						cur = append(cur, line[i])
					}
					continue
				}
				cur = append(cur, line[i])
			}
			i++
		case '\'':
			i++
			for ; i < len(line) && line[i] != '\''; i++ {
				cur = append(cur, line[i])
			}
			i++
		default:
			for ; i < len(line) && line[i] != ' '; i++ {
				cur = append(cur, line[i])
			}
		}
		args = append(args, cur)
	}
	return args, nil
}
