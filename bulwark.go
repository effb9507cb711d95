// Package bulwark holds Bulwark's domain types and the interfaces its parts
// share: tasks, their limits and events, and the one error type with stable
// kinds. It knows nothing of HTTP, SQL, terminals or the operating system;
// subpackages wrap those and are named after what they wrap.
package bulwark
