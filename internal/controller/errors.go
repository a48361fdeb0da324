package controller

import (
	"errors"

	"github.com/b24ops/b24-operator/internal/bitrix"
)

// notOurs reads the answer of an unregister: another application's object (APP_ID_ERROR) is
// never ours to remove, so there is nothing left to do. An object already gone counts as
// removed too; the loop reads that from the error's class.
func notOurs(err error) error {
	if errors.Is(err, bitrix.ErrAppIDError) {
		return nil
	}
	return err
}
