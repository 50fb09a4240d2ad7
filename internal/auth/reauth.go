package auth

import "context"

// VerifyPassword checks the password of the signed-in user id before a
// sensitive action ("confirm access"), throttled like a login. It returns
// ErrInvalidCredentials when wrong, or a *ThrottledError.
func (s *Service) VerifyPassword(ctx context.Context, id int64, password string, c Client) error {
	_, err := s.checkPassword(ctx, id, password, c)
	return err
}
