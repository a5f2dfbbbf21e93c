package engine

import crm "github.com/crmsync/crmsync"

// SyncFields are the CRM fields the sync maps (SPEC M9), in a stable order.
// No other field is ever written by the engine.
var SyncFields = func() []string {
	f := []string{
		crm.FieldPrefix, crm.FieldFirstName, crm.FieldMiddleName, crm.FieldLastName, crm.FieldSuffix,
		crm.FieldCompany, crm.FieldJobTitle, crm.FieldDepartment, crm.FieldWebPage,
		crm.FieldEmail1, crm.FieldEmail2, crm.FieldEmail3,
	}
	for _, a := range []string{crm.AddressBusiness, crm.AddressHome, crm.AddressOther} {
		for _, p := range []string{"Street", "City", "State", "PostalCode", "CountryEn"} {
			f = append(f, a+p)
		}
	}
	return append(f,
		crm.FieldPhoneBusiness, crm.FieldPhoneBusiness2, crm.FieldPhoneHome, crm.FieldPhoneMobile,
		crm.FieldPhoneFax, crm.FieldPhoneOther,
		crm.FieldNote, crm.FieldPicture)
}()

// FieldGroups are fields that a remote stores as one property (an address
// object, the emailAddresses array, the businessPhones array): an Update
// op carrying one of them carries all of them.
var FieldGroups = func() [][]string {
	g := [][]string{
		{crm.FieldEmail1, crm.FieldEmail2, crm.FieldEmail3},
		{crm.FieldPhoneBusiness, crm.FieldPhoneBusiness2},
	}
	for _, a := range []string{crm.AddressBusiness, crm.AddressHome, crm.AddressOther} {
		var addr []string
		for _, p := range []string{"Street", "City", "State", "PostalCode", "CountryEn"} {
			addr = append(addr, a+p)
		}
		g = append(g, addr)
	}
	return g
}()
